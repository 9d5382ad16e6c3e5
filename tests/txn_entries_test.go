package tests

// Entries of DIR_ITEM and XATTR_ITEM items, packed as the kernel packs
// names whose hashes collide. Adding, replacing or removing an entry that
// shares its item resizes the item in one search (ExtendItem or
// TruncateItem, then the new bytes written under the same leaf lock, as
// the kernel's btrfs_extend_item / btrfs_truncate_item on one path); an
// entry that is not last is first moved to the end by an in-place rewrite.
// So every state a flusher or reclaim can write between two searches is
// a valid item.

import (
	"bytes"
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// addEntry adds e to the item at k: a new item, or e packed after the
// entries already there.
func (w *txnWorker) addEntry(tree uint64, k format.Key, e format.DirEntry) error {
	enc := format.DirItem{e}.Encode()
	old, ok := w.m.get(tree, k)
	if !ok {
		return w.insert1(tree, k, enc)
	}
	w.packed++
	return w.setTail(tree, k, old, enc)
}

// removeEntry removes entry name from the item at k (the item when it is
// the only entry).
func (w *txnWorker) removeEntry(tree uint64, k format.Key, name string) error {
	keep, err := w.moveLast(tree, k, name)
	if err != nil {
		return err
	}
	if len(keep) == 0 {
		return w.del(tree, k)
	}
	w.unpacked++
	return w.setTail(tree, k, keep, nil)
}

// replaceEntry replaces entry name of the item at k with e (same name,
// another size).
func (w *txnWorker) replaceEntry(tree uint64, k format.Key, name string, e format.DirEntry) error {
	keep, err := w.moveLast(tree, k, name)
	if err != nil {
		return err
	}
	return w.setTail(tree, k, keep, format.DirItem{e}.Encode())
}

// moveLast makes entry name the last of the item at k and returns the
// bytes of the entries before it (empty when it is alone).
func (w *txnWorker) moveLast(tree uint64, k format.Key, name string) ([]byte, error) {
	es, err := w.entries(tree, k)
	if err != nil {
		return nil, err
	}
	i := entryIndex(es, name)
	if i < 0 {
		return nil, fmt.Errorf("tree %d item %v: no entry %q", tree, k, name)
	}
	keep := append(append(format.DirItem{}, es[:i]...), es[i+1:]...)
	if i < len(es)-1 {
		moved := append(append(format.DirItem{}, keep...), es[i])
		if err := w.update(tree, k, func([]byte) ([]byte, error) { return moved.Encode(), nil }); err != nil {
			return nil, err
		}
	}
	return append([]byte{}, keep.Encode()...), nil
}

// setTail makes the item at k, whose model bytes start with keep, hold
// keep followed by tail: one search that grows, shrinks or just COWs it,
// and tail written before the leaf is released.
func (w *txnWorker) setTail(tree uint64, k format.Key, keep, tail []byte) error {
	old, _ := w.m.get(tree, k)
	p, err := w.resize(tree, k, len(old), len(keep)+len(tail))
	defer p.Release()
	if err != nil {
		return err
	}
	d := p.ItemData()
	if len(d) != len(keep)+len(tail) {
		return fmt.Errorf("resize %v of tree %d: %d bytes, want %d", k, tree, len(d), len(keep)+len(tail))
	}
	if err := sameBytes(tree, k, d[:len(keep)], keep); err != nil {
		return err
	}
	copy(d[len(keep):], tail)
	w.m.set(tree, k, append(bytes.Clone(keep), tail...))
	return nil
}

// resize leaves a path at the item k, resized from size to want bytes.
func (w *txnWorker) resize(tree uint64, k format.Key, size, want int) (*ctree.Path, error) {
	p := &ctree.Path{}
	r, err := w.root(tree)
	if err != nil {
		return p, err
	}
	switch {
	case want > size:
		err = ctree.ExtendItem(w.h, r, p, k, uint32(want-size))
	case want < size:
		err = ctree.TruncateItem(w.h, r, p, k, uint32(want))
	default:
		var found bool
		if found, err = ctree.SearchSlot(w.h, r, k, p, 0, true); err == nil && !found {
			err = ctree.ErrNotFound
		}
	}
	if err != nil {
		return p, fmt.Errorf("resize %v of tree %d from %d to %d: %w", k, tree, size, want, err)
	}
	return p, nil
}

// entries decodes the model's item at k.
func (w *txnWorker) entries(tree uint64, k format.Key) (format.DirItem, error) {
	old, ok := w.m.get(tree, k)
	if !ok {
		return nil, fmt.Errorf("tree %d: no item %v in the model", tree, k)
	}
	return format.DecodeDirItem(old)
}

// setEntryData replaces the data of entry name with data of the same size,
// in place.
func (w *txnWorker) setEntryData(tree uint64, k format.Key, name string, data []byte) error {
	return w.update(tree, k, func(old []byte) ([]byte, error) {
		es, err := format.DecodeDirItem(old)
		if err != nil {
			return nil, err
		}
		i := entryIndex(es, name)
		if i < 0 || len(es[i].Data) != len(data) {
			return nil, fmt.Errorf("no entry %q of %d bytes", name, len(data))
		}
		es[i].Data = data
		return es.Encode(), nil
	})
}

func entryIndex(es format.DirItem, name string) int {
	for i, e := range es {
		if string(e.Name) == name {
			return i
		}
	}
	return -1
}
