package transaction

import (
	"fmt"
	"slices"

	"cowfs/cache"
	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/disk/inject"
)

// maxCommitRounds bounds the fixed-point loop of a commit; reaching it is
// a bug (each round only touches blocks the previous ones COWed).
const maxCommitRounds = 1000

// Commit commits the running transaction (see docs/transaction.md):
//
//  1. hold new handles back and wait for the running ones to end;
//  2. to a fixed point: insert the items of new chunks, run the delayed
//     refs into the extent tree, rewrite changed BLOCK_GROUP_ITEMs and
//     free-space-tree listings (free_space_tree.go), delete
//     the checksums of freed data extents, rewrite ROOT_ITEMs (each step
//     COWs extent-, csum-, root- or chunk-tree blocks and so queues more
//     refs);
//  3. write the dirty set, sorted by address, and flush;
//  4. write the superblock (primary durably, mirrors, flush), its
//     backup-root slot rotated;
//  5. unpin the extents freed by the transaction and start the next one.
//
// Any failure aborts: the filesystem turns read-only and the previous
// commit stays the image's state. The caller must not hold a handle.
func (fs *FS) Commit() error {
	if hook := fs.beforeCommit.Load(); hook != nil {
		if err := (*hook)(); err != nil {
			return fmt.Errorf("before commit: %w", err)
		}
	}
	fs.commitLock.Lock()
	defer fs.commitLock.Unlock()
	return fs.commitLocked()
}

// BeforeCommit sets a function every Commit runs first, before it holds
// new handles back: the filesystem layer flushes its buffered file data
// there (as the kernel's commit starts delalloc writeback), with handles of
// its own. An error fails the commit without aborting.
func (fs *FS) BeforeCommit(fn func() error) { fs.beforeCommit.Store(&fn) }

func (fs *FS) commitLocked() error {
	if err := fs.readOnlyErr(); err != nil {
		if fs.opts.ReadOnly && fs.Aborted() == nil {
			return nil
		}
		return err
	}
	t := fs.current()
	if t.empty() && fs.refs.Len() == 0 {
		return nil
	}
	storeMax(&fs.stats.maxCsumOwed, fs.csumOwed.Load())
	h := &Handle{fs: fs, t: t, kind: commitHandle}
	err := fs.commitSteps(t, h)
	h.pins.releaseAll(fs.cache)
	h.End()
	if err != nil {
		err = fmt.Errorf("commit of transaction %d: %w", t.transid, err)
		fs.abort(err)
		return fmt.Errorf("%w (transaction aborted: %w)", ErrReadOnly, err)
	}
	return nil
}

func (fs *FS) commitSteps(t *Transaction, h *Handle) error {
	if err := fs.unreserveFreed(t); err != nil {
		return err
	}
	if err := fs.runToFixedPoint(t, h); err != nil {
		return err
	}
	if err := fs.dropUnusedData(t); err != nil {
		return err
	}
	h.pins.releaseAll(fs.cache)
	if err := fs.Aborted(); err != nil {
		return err
	}
	if inject.On(inject.SuperBeforeTrees) {
		return fs.superFirst(t)
	}
	if err := fs.writeDirty(t); err != nil {
		return err
	}
	sb, err := fs.writeSuper(t)
	if err != nil {
		return err
	}
	return fs.finishCommit(t, sb)
}

// unreserveFreed returns the blocks allocated and freed unwritten by the
// transaction to free space; no handle runs now, so none of them is still
// being discarded.
func (fs *FS) unreserveFreed(t *Transaction) error {
	t.mu.Lock()
	freed := t.mu.unreserve
	t.mu.unreserve = nil
	t.mu.Unlock()
	for _, r := range freed {
		if err := fs.alloc.Unreserve(r.Start, r.Len); err != nil {
			return err
		}
	}
	return nil
}

// runToFixedPoint repeats the commit's tree updates until one round
// changes nothing.
func (fs *FS) runToFixedPoint(t *Transaction, h *Handle) error {
	extent, _ := fs.trees.get(format.ExtentTreeObjectID)
	for round := 0; round < maxCommitRounds; round++ {
		chunks, err := fs.insertPendingChunks(h)
		if err != nil {
			return err
		}
		heads := fs.refs.Take()
		if err := runRefHeads(h, extent.root, accounting{fs}, heads, t.transid); err != nil {
			return err
		}
		groups, err := fs.updateBlockGroups(h, extent.root)
		if err != nil {
			return err
		}
		listed, err := fs.updateFreeSpaceTree(h)
		if err != nil {
			return err
		}
		csums, err := fs.dropFreedCsums(t, h)
		if err != nil {
			return err
		}
		roots, err := fs.updateRootItems(h)
		if err != nil {
			return err
		}
		if chunks == 0 && len(heads) == 0 && csums == 0 && groups == 0 && listed == 0 && !roots && fs.refs.Len() == 0 {
			fs.stats.commitRounds.Add(uint64(round + 1))
			return nil
		}
	}
	return fmt.Errorf("no fixed point after %d rounds of delayed refs", maxCommitRounds)
}

// updateBlockGroups rewrites the BLOCK_GROUP_ITEM of every group whose
// used changed; it returns how many.
func (fs *FS) updateBlockGroups(h *Handle, extent *ctree.Root) (int, error) {
	groups := fs.alloc.DirtyGroups()
	for _, g := range groups {
		key := format.Key{ObjectID: g.Start, Type: format.BlockGroupItemKey, Offset: g.Length}
		if err := updateItem(h, extent, key, func(b []byte) ([]byte, error) {
			bg, err := format.DecodeBlockGroupItem(b)
			if err != nil {
				return nil, err
			}
			bg.Used = g.Used
			return bg.Encode(), nil
		}); err != nil {
			return 0, fmt.Errorf("block group %d: %w", g.Start, err)
		}
	}
	return len(groups), nil
}

// updateItem rewrites the data of the item at key in place (same size).
func updateItem(h *Handle, r *ctree.Root, key format.Key, edit func([]byte) ([]byte, error)) error {
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(h, r, key, &p, 0, true)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: tree %d has no item %v", format.ErrCorrupt, r.ID, key)
	}
	data, err := edit(p.ItemData())
	if err != nil {
		return fmt.Errorf("tree %d item %v: %w", r.ID, key, err)
	}
	if len(data) != len(p.ItemData()) {
		return fmt.Errorf("tree %d item %v: size %d, rewritten as %d", r.ID, key, len(p.ItemData()), len(data))
	}
	copy(p.ItemData(), data)
	return nil
}

// dropUnusedData frees the data extents allocated by the transaction that
// never got a reference; every tree block it allocated must have its
// extent item by now.
func (fs *FS) dropUnusedData(t *Transaction) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for b, f := range t.mu.fresh {
		if !f.data {
			return fmt.Errorf("tree block %d allocated by the transaction has no extent item", b)
		}
		if err := fs.alloc.Unreserve(b, f.length); err != nil {
			return err
		}
		delete(t.mu.fresh, b)
	}
	return nil
}

// writeDirty writes whatever of the dirty set is still dirty in the cache
// (reclaim and the flusher may have written and dropped the rest) and
// flushes the device.
func (fs *FS) writeDirty(t *Transaction) error {
	addrs := t.dirtyAddrs()
	slices.Sort(addrs)
	ebs := make([]*cache.ExtentBuffer, 0, len(addrs))
	for _, b := range addrs {
		if eb := fs.cache.Find(b); eb != nil {
			ebs = append(ebs, eb)
		}
	}
	err := fs.cache.WriteDirty(ebs, cache.CauseCommit)
	for _, eb := range ebs {
		fs.cache.Release(eb)
	}
	if err != nil {
		return fmt.Errorf("write the dirty set: %w", err)
	}
	if inject.On(inject.NoFlushBeforeSuper) {
		return nil
	}
	if err := fs.dev.Flush(); err != nil {
		return fmt.Errorf("flush the dirty set: %w", err)
	}
	return nil
}

// superFirst is the end of a commit with bug SuperBeforeTrees: the
// superblock, then the tree blocks it points to.
func (fs *FS) superFirst(t *Transaction) error {
	sb, err := fs.writeSuper(t)
	if err != nil {
		return err
	}
	if err := fs.writeDirty(t); err != nil {
		return err
	}
	return fs.finishCommit(t, sb)
}

// finishCommit makes the committed state the current one.
func (fs *FS) finishCommit(t *Transaction, sb *format.Super) error {
	if err := fs.alloc.Unpin(); err != nil {
		return err
	}
	fs.cache.SetLastCommitted(t.transid)
	fs.delayedRefs.Release()
	fs.csumRsv.Store(0)
	fs.csumOwed.Store(0)
	fs.delayedItems.Release()
	fs.refillGlobal()
	fs.mu.Lock()
	fs.mu.super = *sb
	fs.mu.cur = newTransaction(t.transid + 1)
	fs.mu.Unlock()
	fs.stats.commits.Add(1)
	return nil
}
