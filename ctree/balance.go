package ctree

import (
	"cowfs/cache"
	"cowfs/disk/format"
)

// Keeping the tree full enough on delete (SearchSlot with insLen < 0, then
// DelItems).
//
// On the way down, a root node with a single child is replaced by that
// child (the tree shrinks), and a non-root node with fewer than
// MaxKeyPtrs/4 pointers is merged with a neighbour under the same parent
// when both fit in 3/4 of a node, or else takes pointers from it until both
// hold about as many. The left neighbour is preferred (its lock may be
// waited for); the right one is only try-locked. Either way every non-root
// node on the path keeps at least two pointers, so removing the pointer of
// a leaf below never empties it.
//
// After DelItems, a leaf that is empty is removed from its parent; a leaf
// with less than a quarter of its data area in use is merged into its left
// neighbour, or else into its right one, when all its items fit there.
// Leaf merges are opportunistic: a neighbour that is not cached or whose
// try-lock fails is skipped.

// leafMergeBelow is the fill, in bytes used, under which a leaf is merged
// into a neighbour after a delete.
func leafMergeBelow(nodesize uint32) int { return int(format.LeafDataSize(nodesize)) / 4 }

// shrinkRoot replaces the root node at level, which has one child, by that
// child and continues the search there.
func (s *searcher) shrinkRoot(level int) (*cache.ExtentBuffer, error) {
	if s.wll < level {
		return nil, s.raise(level)
	}
	old := s.p.nodes[level]
	child := s.c.Find(old.Node().BlockPtr(0))
	if child == nil {
		s.p.setSlot(level, 0)
		return nil, s.notCached(old, 0)
	}
	child.Lock()
	if err := s.checkChild(old, 0, child); err != nil {
		s.unlockRelease(child)
		return nil, err
	}
	s.root.swapNode(old, child)
	s.free(old)
	s.p.drop(level)
	s.p.set(level-1, child, WriteLocked)
	s.root.stats.rootShrinks.Add(1)
	return child, nil
}

// balanceNode refills or merges the path's node at level (below the fill
// threshold) with a neighbour.
func (s *searcher) balanceNode(level int) error {
	parent, ps := s.p.nodes[level+1], s.p.slots[level+1]
	switch {
	case ps > 0:
		return s.balanceLeft(level)
	case ps+1 < parent.Node().NrItems():
		return s.balanceRight(level)
	}
	return nil
}

// balanceLeft merges the node into its left neighbour, or moves the
// neighbour's last pointers into it.
func (s *searcher) balanceLeft(level int) error {
	parent, ps := s.p.nodes[level+1], s.p.slots[level+1]
	left, err := s.sibling(level, ps-1, false)
	if err != nil {
		return err
	}
	if left, err = s.cowSibling(level, ps-1, left); err != nil {
		return err
	}
	x := s.p.nodes[level]
	ln, xn, slot := left.Node().NrItems(), x.Node().NrItems(), s.p.slots[level]
	if ln+xn <= mergeUpTo(s.c.NodeSize()) {
		movePtrs(x.Node(), 0, xn, left.Node(), ln)
		delPtrs(parent.Node(), ps, 1)
		s.dirtyAll(left, parent)
		s.free(x)
		s.p.replace(level, left)
		s.p.setSlot(level, ln+slot)
		s.p.setSlot(level+1, ps-1)
		s.root.stats.nodeMerges.Add(1)
		return nil
	}
	k := (ln - xn) / 2
	movePtrs(left.Node(), ln-k, ln, x.Node(), 0)
	parent.Node().SetKey(ps, x.Node().Key(0))
	s.dirtyAll(left, x, parent)
	s.unlockRelease(left)
	s.p.setSlot(level, slot+k)
	s.p.setSlot(level+1, ps)
	s.root.stats.nodeRefills.Add(1)
	return nil
}

// balanceRight merges the right neighbour into the node, or moves the
// neighbour's first pointers into it.
func (s *searcher) balanceRight(level int) error {
	parent, ps := s.p.nodes[level+1], s.p.slots[level+1]
	right, err := s.sibling(level, ps+1, true)
	if err != nil {
		return err
	}
	if right, err = s.cowSibling(level, ps+1, right); err != nil {
		return err
	}
	x := s.p.nodes[level]
	xn, rn := x.Node().NrItems(), right.Node().NrItems()
	if xn+rn <= mergeUpTo(s.c.NodeSize()) {
		movePtrs(right.Node(), 0, rn, x.Node(), xn)
		delPtrs(parent.Node(), ps+1, 1)
		s.dirtyAll(x, parent)
		s.free(right)
		s.unlockRelease(right)
		s.root.stats.nodeMerges.Add(1)
	} else {
		k := (rn - xn) / 2
		movePtrs(right.Node(), 0, k, x.Node(), xn)
		parent.Node().SetKey(ps+1, right.Node().Key(0))
		s.dirtyAll(x, right, parent)
		s.unlockRelease(right)
		s.root.stats.nodeRefills.Add(1)
	}
	s.p.setSlot(level, s.p.slots[level])
	s.p.setSlot(level+1, ps)
	return nil
}

// removeLeaf takes the path's empty leaf out of its parent and frees it.
func (o *op) removeLeaf() error {
	parent, ps := o.p.nodes[1], o.p.slots[1]
	delPtrs(parent.Node(), ps, 1)
	o.dirty(parent)
	o.free(o.p.nodes[0])
	o.p.drop(0)
	o.root.stats.leafRemovals.Add(1)
	if ps == 0 {
		return o.fixupLowKeys(parent.Node().Key(0), 2)
	}
	return nil
}

// mergeTarget picks, before items [slot, slot+nr) of the path's leaf are
// deleted, the neighbour the rest of the leaf will be merged into: only
// when the leaf would stay non-empty but below the fill threshold, and the
// neighbour (left first) has room for all of it. The neighbour is returned
// write-locked and already COWed, so that a failed charge aborts the
// delete before anything changed; nil when there is no merge.
func (o *op) mergeTarget(slot, nr int) (sib *cache.ExtentBuffer, pslot int, toLeft bool, err error) {
	l := o.p.Leaf()
	used := leafUsed(l) - nr*format.ItemHeaderSize
	for i := slot; i < slot+nr; i++ {
		used -= int(l.ItemSize(i))
	}
	if o.p.nodes[1] == nil || l.NrItems() == nr || used >= leafMergeBelow(o.c.NodeSize()) {
		return nil, 0, false, nil
	}
	ps := o.p.slots[1]
	if ps > 0 {
		if sib, err = o.roomyNeighbour(ps-1, false, used); sib != nil || err != nil {
			return sib, ps - 1, true, err
		}
	}
	if ps+1 < o.p.nodes[1].Node().NrItems() {
		sib, err = o.roomyNeighbour(ps+1, true, used)
		return sib, ps + 1, false, err
	}
	return nil, 0, false, nil
}

// roomyNeighbour returns the leaf at parent slot pslot, write-locked and
// COWed, if it has used bytes free; nil when not (or not at hand).
func (o *op) roomyNeighbour(pslot int, try bool, used int) (*cache.ExtentBuffer, error) {
	sib, err := o.sibling(0, pslot, try)
	if err != nil {
		_, err = o.optional(err)
		return nil, err
	}
	if sib.Leaf().FreeSpace() < used {
		o.unlockRelease(sib)
		return nil, nil
	}
	return o.cowSibling(0, pslot, sib)
}

// mergeInto moves all items of the path's leaf into sib (write-locked,
// COWed, at parent slot pslot; toLeft: sib is the left neighbour) and
// removes the leaf.
func (o *op) mergeInto(sib *cache.ExtentBuffer, pslot int, toLeft bool) error {
	l := o.p.nodes[0].Leaf()
	n := l.NrItems()
	if toLeft {
		moveItems(l, 0, n, sib.Leaf(), sib.Leaf().NrItems())
	} else {
		moveItems(l, 0, n, sib.Leaf(), 0)
		o.p.nodes[1].Node().SetKey(pslot, sib.Leaf().ItemKey(0))
	}
	o.dirtyAll(o.p.nodes[0], sib)
	o.unlockRelease(sib)
	o.root.stats.leafMerges.Add(1)
	return o.removeLeaf()
}
