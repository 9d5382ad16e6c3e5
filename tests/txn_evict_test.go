package tests

// Eviction of unlinked inodes, as btrfs_evict_inode does it after the
// unlink's handle ends: a loop of 1-item handles, each deleting the
// inode's items from its highest key down, all those sharing one leaf at
// once (btrfs_truncate_inode_items' batch btrfs_del_items); then one more
// 1-item handle deleting the ORPHAN_ITEM.

import (
	"fmt"
	"math"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// evictPending evicts every inode the last batch unlinked.
func (w *txnWorker) evictPending() error {
	for _, f := range w.evict {
		for left := true; left; {
			err := w.withHandle(1, "evict items", func() (err error) {
				left, err = w.truncateInode(f)
				return err
			})
			if err != nil {
				return fmt.Errorf("evict %v: %w", f, err)
			}
		}
		if err := w.withHandle(1, "evict orphan", func() error { return w.del(f.tree, orphanKey(f.ino)) }); err != nil {
			return fmt.Errorf("evict %v: %w", f, err)
		}
		w.ops[opEvict]++
	}
	w.evict = w.evict[:0]
	return nil
}

// truncateInode deletes the last leaf's worth of f's items; it reports
// whether any were left to delete.
func (w *txnWorker) truncateInode(f *txnInode) (bool, error) {
	r, err := w.root(f.tree)
	if err != nil {
		return false, err
	}
	var p ctree.Path
	defer p.Release()
	top := format.Key{ObjectID: f.ino, Type: math.MaxUint8, Offset: math.MaxUint64}
	if _, err := ctree.SearchSlot(w.h, r, top, &p, -1, true); err != nil {
		return false, fmt.Errorf("search %v in tree %d: %w", top, f.tree, err)
	}
	first, slot := p.Slot(0), p.Slot(0)
	l := p.Leaf()
	for first > 0 && l.ItemKey(first-1).ObjectID == f.ino {
		first--
	}
	if first == slot {
		if left := w.m.keysOf(f.tree, f.ino); len(left) > 0 {
			return false, fmt.Errorf("tree %d: search for %v found none of the items %v", f.tree, top, left)
		}
		return false, nil
	}
	for i := first; i < slot; i++ {
		want, _ := w.m.get(f.tree, l.ItemKey(i))
		if err := sameBytes(f.tree, l.ItemKey(i), l.ItemData(i), want); err != nil {
			return false, err
		}
		w.m.del(f.tree, l.ItemKey(i))
	}
	if err := ctree.DelItems(w.h, r, &p, first, slot-first); err != nil {
		return false, fmt.Errorf("delete %d items of %v: %w", slot-first, f, err)
	}
	return true, nil
}
