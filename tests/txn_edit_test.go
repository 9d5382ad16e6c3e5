package tests

// Item edits of the transaction workload. Each changes one item through
// ctree in the worker's handle and records the result in the model; edits
// of an existing item first compare the tree's bytes with the model's, so
// a lost or stale write shows at the next touch, not only at reopen.
// (Entries of DIR_ITEM and XATTR_ITEM items: txn_entries_test.go.)

import (
	"bytes"
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// root returns tree's open root.
func (w *txnWorker) root(tree uint64) (*ctree.Root, error) {
	return w.fs.Tree(tree)
}

// insert inserts the items keys (ascending, adjacent) with datas.
func (w *txnWorker) insert(tree uint64, keys []format.Key, datas [][]byte) error {
	r, err := w.root(tree)
	if err != nil {
		return err
	}
	if err := ctree.InsertItems(w.h, r, keys, datas); err != nil {
		return fmt.Errorf("insert %v into tree %d: %w", keys, tree, err)
	}
	for i, k := range keys {
		w.m.set(tree, k, datas[i])
	}
	return nil
}

func (w *txnWorker) insert1(tree uint64, k format.Key, data []byte) error {
	return w.insert(tree, []format.Key{k}, [][]byte{data})
}

// del deletes the item at k.
func (w *txnWorker) del(tree uint64, k format.Key) error {
	r, err := w.root(tree)
	if err != nil {
		return err
	}
	if err := ctree.DeleteItem(w.h, r, k); err != nil {
		return fmt.Errorf("delete %v from tree %d: %w", k, tree, err)
	}
	w.m.del(tree, k)
	return nil
}

// update rewrites the item at k in place (same size) with edit of its
// current bytes: a COW search, then a write into the leaf.
func (w *txnWorker) update(tree uint64, k format.Key, edit func([]byte) ([]byte, error)) error {
	want, ok := w.m.get(tree, k)
	if !ok {
		return fmt.Errorf("update of %v in tree %d: not in the model", k, tree)
	}
	r, err := w.root(tree)
	if err != nil {
		return err
	}
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(w.h, r, k, &p, 0, true)
	if err != nil || !found {
		return fmt.Errorf("update of %v in tree %d: found %v: %w", k, tree, found, err)
	}
	if err := sameBytes(tree, k, p.ItemData(), want); err != nil {
		return err
	}
	data, err := edit(bytes.Clone(want))
	if err != nil || len(data) != len(want) {
		return fmt.Errorf("update of %v in tree %d: %d bytes to %d: %v", k, tree, len(want), len(data), err)
	}
	copy(p.ItemData(), data)
	w.m.set(tree, k, data)
	return nil
}

func sameBytes(tree uint64, k format.Key, have, want []byte) error {
	if !bytes.Equal(have, want) {
		return fmt.Errorf("tree %d item %v: tree holds %d bytes %.32x…, model %d bytes %.32x…",
			tree, k, len(have), have, len(want), want)
	}
	return nil
}

// updateInode edits the decoded INODE_ITEM of (tree, ino) in place.
func (w *txnWorker) updateInode(tree, ino uint64, edit func(*format.InodeItem)) error {
	return w.update(tree, inodeKey(ino), func(old []byte) ([]byte, error) {
		ii, err := format.DecodeInodeItem(old)
		if err != nil {
			return nil, err
		}
		edit(ii)
		return ii.Encode(), nil
	})
}
