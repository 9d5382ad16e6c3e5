package ctree

import (
	"fmt"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk/format"
)

// op is one modifying operation on a tree: the transaction, the tree, the
// path it works on, and (inside SearchSlot) the count of blocks it COWed.
type op struct {
	trans Trans
	root  *Root
	c     *cache.Cache
	p     *Path
	cows  int
	// searching is set inside SearchSlot; pins holds the copies it
	// pinned under pin-search (cow_policy.go).
	searching bool
	pins      cache.PinList
}

// newBlock charges and allocates a block at level and returns its buffer,
// write-locked, with a fresh empty header (generation = transid, owner =
// the tree). It is not dirty yet: the caller fills it, then calls dirty.
func (o *op) newBlock(level int, fsid, chunkUUID format.UUID) (*cache.ExtentBuffer, error) {
	if err := o.trans.Charge(o.root.ID, level); err != nil {
		return nil, err
	}
	bytenr, err := o.trans.AllocBlock(o.root.ID, level)
	if err != nil {
		return nil, err
	}
	eb, err := o.c.Create(bytenr)
	if err != nil {
		return nil, err
	}
	eb.Lock()
	format.InitHeader(eb.Data(), fsid, chunkUUID, bytenr, o.trans.Transid(), o.root.ID, uint8(level))
	return eb, nil
}

// newBlockLike is newBlock with the fsid and chunk tree uuid of like.
func (o *op) newBlockLike(level int, like *cache.ExtentBuffer) (*cache.ExtentBuffer, error) {
	h := like.Header()
	return o.newBlock(level, h.Fsid(), h.ChunkTreeUUID())
}

// dirty marks a modified, write-locked block dirty in the cache and in the
// transaction's dirty set.
func (o *op) dirty(eb *cache.ExtentBuffer) {
	o.c.MarkDirty(eb, o.trans.Transid())
	o.trans.AddDirty(eb)
}

// free records a write-locked block as no longer in the tree; a block this
// transaction created and never wrote is discarded from the cache. The
// caller still unlocks and releases it.
func (o *op) free(eb *cache.ExtentBuffer) {
	o.trans.FreeBlock(o.root.ID, eb)
	if discardable(o.trans, eb) {
		o.c.Discard(eb)
	}
}

// abandon frees a new block that was never linked into the tree.
func (o *op) abandon(eb *cache.ExtentBuffer) {
	o.free(eb)
	eb.Unlock()
	o.c.Release(eb)
}

// cowCopy makes the copy of old (write- or read-locked by the caller) at
// level: charged, allocated, bytes copied, bytenr, generation and owner
// set, WRITTEN cleared. The copy is returned write-locked, not yet linked.
func (o *op) cowCopy(old *cache.ExtentBuffer, level int) (*cache.ExtentBuffer, error) {
	nb, err := o.newBlockLike(level, old)
	if err != nil {
		return nil, err
	}
	copy(nb.Data(), old.Data())
	h := nb.Header()
	h.SetBytenr(nb.Bytenr)
	h.SetGeneration(o.trans.Transid())
	h.SetOwner(o.root.ID)
	h.SetWritten(false)
	o.pinCOW(nb)
	return nb, nil
}

// cowPath COWs the block at level of the path (write-locked, as is its
// parent, or it is the root): the parent's pointer (or the root) moves to
// the copy, the copy replaces the old block in the path, the old one is
// freed.
func (o *op) cowPath(level int, d cowDecision) error {
	old := o.p.nodes[level]
	nb, err := o.cowCopy(old, level)
	if err != nil {
		return err
	}
	if parent := o.p.nodes[level+1]; parent != nil {
		o.repoint(parent, o.p.slots[level+1], nb)
	} else {
		o.root.swapNode(old, nb)
	}
	o.dirty(nb)
	o.free(old)
	o.counted(level, d)
	slot := o.p.slots[level]
	o.p.replace(level, nb)
	o.p.setSlot(level, slot)
	return nil
}

// cowSibling COWs sib, a write-locked child at parent slot pslot of the
// path's (write-locked) node at level+1, if the policy says so. It returns
// the block to modify, write-locked: sib itself or its copy (then sib is
// freed, unlocked and released).
func (o *op) cowSibling(level, pslot int, sib *cache.ExtentBuffer) (*cache.ExtentBuffer, error) {
	d := shouldCOW(o.trans, o.root, sib)
	if !d.cow {
		if d.overwrite {
			o.redirty(level, sib)
		}
		return sib, nil
	}
	nb, err := o.cowCopy(sib, level)
	if err != nil {
		o.unlockRelease(sib)
		return nil, err
	}
	o.repoint(o.p.nodes[level+1], pslot, nb)
	o.dirty(nb)
	o.free(sib)
	o.counted(level, d)
	sib.Unlock()
	o.c.Release(sib)
	return nb, nil
}

// repoint makes pointer slot of parent point at nb.
func (o *op) repoint(parent *cache.ExtentBuffer, slot int, nb *cache.ExtentBuffer) {
	n := parent.Node()
	n.SetBlockPtr(slot, nb.Bytenr)
	n.SetPtrGeneration(slot, o.trans.Transid())
	o.dirty(parent)
}

// counted feeds one COW to the figures.
func (o *op) counted(level int, d cowDecision) {
	o.cows++
	o.root.stats.cow(level, d.reCOW)
}

// sibling returns the child at pointer pslot of the path's node at
// level+1, write-locked: with a blocking lock for a left neighbour, a
// try-lock for a right one. It fails with a restart when the child is not
// cached or the try-lock fails; the caller either restarts the search or,
// for an optional step, skips it.
func (o *op) sibling(level, pslot int, try bool) (*cache.ExtentBuffer, error) {
	parent := o.p.nodes[level+1]
	eb := o.c.Find(parent.Node().BlockPtr(pslot))
	if eb == nil {
		return nil, o.notCached(parent, pslot)
	}
	if !try {
		eb.Lock()
	} else if !eb.TryLock() {
		o.c.Release(eb)
		return nil, &restartError{cause: RestartTryLock}
	}
	if err := o.checkChild(parent, pslot, eb); err != nil {
		eb.Unlock()
		o.c.Release(eb)
		return nil, err
	}
	return eb, nil
}

// checkChild compares a locked child's header with its parent's pointer.
func (o *op) checkChild(parent *cache.ExtentBuffer, slot int, child *cache.ExtentBuffer) error {
	if e := childMismatch(o.root.ID, parent, slot, child); e != nil {
		return e
	}
	return nil
}

// childMismatch reports a child whose header contradicts pointer slot of
// parent: address, level or generation.
func childMismatch(root uint64, parent *cache.ExtentBuffer, slot int, child *cache.ExtentBuffer) *checker.Error {
	n := parent.Node()
	h := child.Header()
	want := int(parent.Header().Level()) - 1
	bad := func(rule int, reason string) *checker.Error {
		return corrupt(rule, root, parent.Bytenr, want+1, slot, reason)
	}
	switch {
	case h.Bytenr() != n.BlockPtr(slot):
		return bad(checker.RuleBytenr, "child bytenr mismatch").WithHE(h.Bytenr(), n.BlockPtr(slot))
	case int(h.Level()) != want:
		return bad(checker.RuleLevel, "child level mismatch").WithHE(h.Level(), want)
	case h.Generation() != n.PtrGeneration(slot):
		return bad(checker.RuleTransid, "key pointer generation mismatch").WithHE(h.Generation(), n.PtrGeneration(slot))
	}
	return nil
}

// fixupLowKeys writes key as the key of the path's pointer at level and
// above, as long as the pointer is the first of its node (then that node's
// first key changed too). Every level it touches must be write-locked: the
// search kept those locks (see unlockAbove).
func (o *op) fixupLowKeys(key format.Key, level int) error {
	for i := level; i < format.MaxLevel && o.p.nodes[i] != nil; i++ {
		if o.p.locks[i] != WriteLocked {
			return fmt.Errorf("ctree: internal error: key fixup at level %d without write lock", i)
		}
		eb := o.p.nodes[i]
		eb.Node().SetKey(o.p.slots[i], key)
		o.dirty(eb)
		if o.p.slots[i] != 0 {
			break
		}
	}
	return nil
}

// notCached is the restart that reads child slot of parent (locked) before
// searching again.
func (o *op) notCached(parent *cache.ExtentBuffer, slot int) error {
	exp, _ := checker.ExpectChild(parent.Data(), slot, o.root.ID)
	return &restartError{cause: RestartNotCached, read: &exp}
}
