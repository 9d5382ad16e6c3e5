package ctree

import (
	"fmt"

	"cowfs/cache"
	"cowfs/disk/format"
)

// Making room for an insert (SearchSlot with insLen > 0).
//
// A leaf without room first tries to push items into its right neighbour,
// then into its left one (neighbours under the same parent only), moving as
// many as evens out the two leaves. If neither can take enough, the leaf is
// split: items after a split point go to a new leaf on its right. The split
// point keeps both halves within a leaf and evens them out, except for an
// append at the end of the leaf, which splits at the slot (the new item
// starts an empty right leaf, so sequential inserts leave full leaves). When
// no single point works — a large item in the middle of a full leaf — the
// leaf is split twice and the item gets a leaf of its own (double split).
// A node with MaxKeyPtrs-3 pointers or more is split in half on the way
// down; a root that splits first gets a new root above it.

// leafPlan is the leaf's content as costs (ItemHeaderSize + data size per
// item) with the pending change applied: a new element of insLen bytes at
// ni (insert), or insLen more bytes for item ni (growth of a found item).
type leafPlan struct {
	costs  []int
	pre    []int // pre[m] = sum of costs[:m]
	ni     int
	insert bool
	lds    int // leaf data size
}

func (s *searcher) planLeaf(found bool) leafPlan {
	l := s.p.nodes[0].Leaf()
	n, slot := l.NrItems(), s.p.slots[0]
	pl := leafPlan{ni: slot, insert: !found, lds: int(format.LeafDataSize(s.c.NodeSize())),
		costs: make([]int, 0, n+1)}
	for i := 0; i <= n; i++ {
		if pl.insert && i == slot {
			pl.costs = append(pl.costs, s.insLen)
		}
		if i == n {
			break
		}
		c := format.ItemHeaderSize + int(l.ItemSize(i))
		if !pl.insert && i == slot {
			c += s.insLen
		}
		pl.costs = append(pl.costs, c)
	}
	pl.pre = make([]int, len(pl.costs)+1)
	for i, c := range pl.costs {
		pl.pre[i+1] = pl.pre[i] + c
	}
	return pl
}

func (pl *leafPlan) total() int { return pl.pre[len(pl.costs)] }

// existing is how many of the leaf's current items lie before plan index m.
func (pl *leafPlan) existing(m int) int {
	if pl.insert && m > pl.ni {
		return m - 1
	}
	return m
}

// best returns the m in [lo, hi] with ok(m) that minimises cost(m).
func best(lo, hi int, ok func(int) bool, cost func(int) int) (int, bool) {
	bm, bc, found := 0, 0, false
	for m := lo; m <= hi; m++ {
		if !ok(m) {
			continue
		}
		if c := cost(m); !found || c < bc {
			bm, bc, found = m, c, true
		}
	}
	return bm, found
}

func abs(v int) int { return max(v, -v) }

// splitPoint is the plan index where a single split can cut, or -1.
func (pl *leafPlan) splitPoint() int {
	n := len(pl.costs)
	fits := func(m int) bool { return pl.pre[m] <= pl.lds && pl.total()-pl.pre[m] <= pl.lds }
	if pl.insert && pl.ni == n-1 && fits(n-1) {
		return n - 1
	}
	m, ok := best(1, n-1, fits, func(m int) int { return abs(pl.total() - 2*pl.pre[m]) })
	if !ok {
		return -1
	}
	return m
}

// splitLeaf makes room in the path's leaf for the pending change.
func (s *searcher) splitLeaf(found bool) error {
	pl := s.planLeaf(found)
	if pl.costs[pl.ni] > pl.lds {
		return fmt.Errorf("%w: item of %d bytes with header, a leaf holds %d", ErrItemTooLarge, pl.costs[pl.ni], pl.lds)
	}
	if s.p.nodes[1] != nil {
		if ok, err := s.pushLeafRight(&pl); err != nil || ok {
			return err
		}
		if ok, err := s.pushLeafLeft(&pl); err != nil || ok {
			return err
		}
	}
	if m := pl.splitPoint(); m > 0 {
		return s.splitLeafAt(&pl, m)
	}
	return s.doubleSplit(&pl)
}

// optional turns a restart of an optional step (a neighbour not cached, or
// its try-lock failed) into "skip it", counted in Stats.NeighbourSkips.
func (o *op) optional(err error) (bool, error) {
	if _, ok := err.(*restartError); ok {
		o.root.stats.neighbourSkips.Add(1)
		return false, nil
	}
	return false, err
}

// pushLeafRight moves the tail of the plan into the right neighbour.
func (s *searcher) pushLeafRight(pl *leafPlan) (bool, error) {
	parent, ps := s.p.nodes[1], s.p.slots[1]
	if ps+1 >= parent.Node().NrItems() {
		return false, nil
	}
	right, err := s.sibling(0, ps+1, true)
	if err != nil {
		return s.optional(err)
	}
	free := right.Leaf().FreeSpace()
	used := pl.lds - free
	ok := func(m int) bool {
		return pl.existing(m) >= 1 && pl.pre[m] <= pl.lds && pl.total()-pl.pre[m] <= free
	}
	m, found := best(1, len(pl.costs)-1, ok, func(m int) int { return abs(pl.total() + used - 2*pl.pre[m]) })
	if !found {
		s.unlockRelease(right)
		return false, nil
	}
	if right, err = s.cowSibling(0, ps+1, right); err != nil {
		return false, err
	}
	leaf := s.p.nodes[0]
	moveItems(leaf.Leaf(), pl.existing(m), leaf.Leaf().NrItems(), right.Leaf(), 0)
	parent.Node().SetKey(ps+1, right.Leaf().ItemKey(0))
	s.dirtyAll(leaf, right, parent)
	s.root.stats.leafPushes.Add(1)
	s.follow(pl, m, right, ps+1)
	return true, nil
}

// pushLeafLeft moves the head of the plan into the left neighbour.
func (s *searcher) pushLeafLeft(pl *leafPlan) (bool, error) {
	parent, ps := s.p.nodes[1], s.p.slots[1]
	if ps == 0 {
		return false, nil
	}
	left, err := s.sibling(0, ps-1, false)
	if err != nil {
		return s.optional(err)
	}
	free := left.Leaf().FreeSpace()
	used := pl.lds - free
	n := s.p.nodes[0].Leaf().NrItems()
	ok := func(m int) bool {
		return pl.existing(m) <= n-1 && pl.pre[m] <= free && pl.total()-pl.pre[m] <= pl.lds
	}
	m, found := best(1, len(pl.costs)-1, ok, func(m int) int { return abs(pl.total() - used - 2*pl.pre[m]) })
	if !found {
		s.unlockRelease(left)
		return false, nil
	}
	if left, err = s.cowSibling(0, ps-1, left); err != nil {
		return false, err
	}
	leaf := s.p.nodes[0]
	leftN := left.Leaf().NrItems()
	moveItems(leaf.Leaf(), 0, pl.existing(m), left.Leaf(), leftN)
	parent.Node().SetKey(ps, leaf.Leaf().ItemKey(0))
	s.dirtyAll(leaf, left, parent)
	s.root.stats.leafPushes.Add(1)
	if pl.ni < m {
		s.p.replace(0, left)
		s.p.slots[0] = leftN + pl.ni
		s.p.setSlot(1, ps-1)
		return true, nil
	}
	s.unlockRelease(left)
	s.p.slots[0] = pl.ni - m
	s.p.setSlot(1, ps)
	return true, nil
}

// follow points the path at the plan's element after a cut at m that moved
// the part from m on into right, now at parent slot rslot (the leaf stays
// at rslot-1).
func (s *searcher) follow(pl *leafPlan, m int, right *cache.ExtentBuffer, rslot int) {
	if pl.ni >= m {
		s.p.replace(0, right)
		s.p.slots[0] = pl.ni - m
		s.p.setSlot(1, rslot)
		return
	}
	s.unlockRelease(right)
	s.p.slots[0] = pl.ni
	s.p.setSlot(1, rslot-1)
}

// splitLeafAt moves the plan's part from m on into a new leaf on the right.
func (s *searcher) splitLeafAt(pl *leafPlan, m int) error {
	if err := s.ensureParent(0); err != nil {
		return err
	}
	leaf := s.p.nodes[0]
	r, err := s.newBlockLike(0, leaf)
	if err != nil {
		return err
	}
	moveItems(leaf.Leaf(), pl.existing(m), leaf.Leaf().NrItems(), r.Leaf(), 0)
	rkey := s.key // an empty new leaf awaits the new item; else the insert fixes the key up
	if r.Leaf().NrItems() > 0 {
		rkey = r.Leaf().ItemKey(0)
	}
	parent, ps := s.p.nodes[1], s.p.slots[1]
	insertPtr(parent.Node(), ps+1, format.KeyPtr{Key: rkey, BlockPtr: r.Bytenr, Generation: s.trans.Transid()})
	s.dirtyAll(leaf, r, parent)
	s.root.stats.leafSplits.Add(1)
	s.follow(pl, m, r, ps+1)
	return nil
}

// doubleSplit gives the plan's element a leaf of its own between the items
// before it (which stay) and the items after it (a new right leaf).
func (s *searcher) doubleSplit(pl *leafPlan) error {
	ni, n := pl.ni, s.p.nodes[0].Leaf().NrItems()
	if ni == 0 || ni >= len(pl.costs)-1 {
		return fmt.Errorf("ctree: internal error: double split at %d of %d", ni, len(pl.costs))
	}
	if err := s.ensureParent(0); err != nil {
		return err
	}
	leaf := s.p.nodes[0]
	mid, err := s.newBlockLike(0, leaf)
	if err != nil {
		return err
	}
	right, err := s.newBlockLike(0, leaf)
	if err != nil {
		s.abandon(mid)
		return err
	}
	after := ni
	if !pl.insert {
		after = ni + 1
	}
	moveItems(leaf.Leaf(), after, n, right.Leaf(), 0)
	moveItems(leaf.Leaf(), ni, after, mid.Leaf(), 0)
	mkey := s.key
	if !pl.insert {
		mkey = mid.Leaf().ItemKey(0)
	}
	parent, ps, gen := s.p.nodes[1], s.p.slots[1], s.trans.Transid()
	insertPtr(parent.Node(), ps+1, format.KeyPtr{Key: mkey, BlockPtr: mid.Bytenr, Generation: gen})
	insertPtr(parent.Node(), ps+2, format.KeyPtr{Key: right.Leaf().ItemKey(0), BlockPtr: right.Bytenr, Generation: gen})
	s.dirtyAll(leaf, mid, right, parent)
	s.unlockRelease(right)
	s.p.replace(0, mid)
	s.p.slots[0] = 0
	s.p.setSlot(1, ps+1)
	s.root.stats.doubleSplits.Add(1)
	return nil
}

// splitNode splits the path's node at level in half.
func (s *searcher) splitNode(level int) error {
	if err := s.ensureParent(level); err != nil {
		return err
	}
	x := s.p.nodes[level]
	n := x.Node().NrItems()
	mid := n / 2
	y, err := s.newBlockLike(level, x)
	if err != nil {
		return err
	}
	movePtrs(x.Node(), mid, n, y.Node(), 0)
	parent, ps := s.p.nodes[level+1], s.p.slots[level+1]
	insertPtr(parent.Node(), ps+1, format.KeyPtr{Key: y.Node().Key(0), BlockPtr: y.Bytenr, Generation: s.trans.Transid()})
	s.dirtyAll(x, y, parent)
	s.root.stats.nodeSplits.Add(1)
	slot := s.p.slots[level]
	if slot >= mid {
		s.p.replace(level, y)
		s.p.setSlot(level, slot-mid)
		s.p.setSlot(level+1, ps+1)
		return nil
	}
	s.unlockRelease(y)
	s.p.setSlot(level, slot)
	s.p.setSlot(level+1, ps)
	return nil
}

// ensureParent grows the tree when the path's block at level is the root.
func (s *searcher) ensureParent(level int) error {
	if s.p.nodes[level+1] != nil {
		return nil
	}
	return s.growRoot(level)
}

// growRoot puts a new root node above the root block at level (write-locked).
func (s *searcher) growRoot(level int) error {
	old := s.p.nodes[level]
	nr, err := s.newBlockLike(level+1, old)
	if err != nil {
		return err
	}
	first := s.key
	if level > 0 {
		first = old.Node().Key(0)
	} else if old.Leaf().NrItems() > 0 {
		first = old.Leaf().ItemKey(0)
	}
	insertPtr(nr.Node(), 0, format.KeyPtr{Key: first, BlockPtr: old.Bytenr, Generation: old.Header().Generation()})
	s.dirty(nr)
	s.root.swapNode(old, nr)
	s.p.set(level+1, nr, WriteLocked)
	s.p.setSlot(level+1, 0)
	s.root.stats.rootGrows.Add(1)
	return nil
}

// dirtyAll marks every block given dirty.
func (o *op) dirtyAll(ebs ...*cache.ExtentBuffer) {
	for _, eb := range ebs {
		o.dirty(eb)
	}
}

// unlockRelease drops a write-locked block that is not in the path.
func (o *op) unlockRelease(eb *cache.ExtentBuffer) {
	eb.Unlock()
	o.c.Release(eb)
}
