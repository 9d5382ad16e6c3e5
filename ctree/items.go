package ctree

import (
	"fmt"

	"cowfs/disk/format"
)

// Item operations. The ones taking a Path leave it, on success, at the item
// they inserted or changed, with the leaf write-locked and dirty, so the
// caller can fill or read the data (Path.ItemData) before Release. On error
// the path is released.

func newOp(trans Trans, root *Root, p *Path) *op {
	return &op{trans: trans, root: root, c: root.env.Cache, p: p}
}

// InsertEmptyItems inserts zero-filled items with keys (strictly
// ascending) and data sizes into one leaf: no key may exist yet, and no
// existing key may lie between the first and the last. p is left at the
// first new item (the others follow it in the leaf).
func InsertEmptyItems(trans Trans, root *Root, p *Path, keys []format.Key, sizes []uint32) error {
	total, err := checkBatch(root, keys, sizes)
	if err != nil {
		return releaseWith(p, err)
	}
	found, err := searchSlot(trans, root, keys[0], p, total, true, roomInsert)
	if err != nil {
		return err
	}
	o := newOp(trans, root, p)
	if found {
		p.Release()
		return fmt.Errorf("%w: %v", ErrExists, keys[0])
	}
	if err := o.checkSpan(keys[len(keys)-1]); err != nil {
		return o.fail(o.dropEmptyLeaf(), err)
	}
	leaf, slot := p.nodes[0], p.slots[0]
	if leaf.Leaf().FreeSpace() < total {
		return o.fail(fmt.Errorf("ctree: internal error: leaf %d has %d bytes free after making room for %d",
			leaf.Bytenr, leaf.Leaf().FreeSpace(), total))
	}
	insertItems(leaf.Leaf(), slot, keys, sizes)
	o.dirty(leaf)
	if slot == 0 && p.nodes[1] != nil {
		if err := o.fixupLowKeys(keys[0], 1); err != nil {
			return o.fail(err)
		}
	}
	return nil
}

// InsertEmptyItem inserts one zero-filled item of size bytes.
func InsertEmptyItem(trans Trans, root *Root, p *Path, key format.Key, size uint32) error {
	return InsertEmptyItems(trans, root, p, []format.Key{key}, []uint32{size})
}

// InsertItem inserts one item with a copy of data.
func InsertItem(trans Trans, root *Root, key format.Key, data []byte) error {
	return InsertItems(trans, root, []format.Key{key}, [][]byte{data})
}

// InsertItems inserts items (keys strictly ascending, into one leaf, as for
// InsertEmptyItems) with copies of datas.
func InsertItems(trans Trans, root *Root, keys []format.Key, datas [][]byte) error {
	if len(keys) != len(datas) {
		return invalid("%d keys, %d data", len(keys), len(datas))
	}
	sizes := make([]uint32, len(datas))
	for i, d := range datas {
		sizes[i] = uint32(len(d))
	}
	var p Path
	if err := InsertEmptyItems(trans, root, &p, keys, sizes); err != nil {
		return err
	}
	defer p.Release()
	l := p.Leaf()
	for i, d := range datas {
		copy(l.ItemData(p.slots[0]+i), d)
	}
	return nil
}

// checkBatch validates a batch and returns the bytes it takes in a leaf.
func checkBatch(root *Root, keys []format.Key, sizes []uint32) (int, error) {
	if len(keys) == 0 || len(keys) != len(sizes) {
		return 0, invalid("batch of %d keys and %d sizes", len(keys), len(sizes))
	}
	total := 0
	for i, s := range sizes {
		if i > 0 && keys[i-1].Compare(keys[i]) >= 0 {
			return 0, invalid("batch keys not ascending at %d: %v after %v", i, keys[i], keys[i-1])
		}
		total += format.ItemHeaderSize + int(s)
	}
	if lds := int(format.LeafDataSize(root.env.Cache.NodeSize())); total > lds {
		return 0, fmt.Errorf("%w: %d bytes with headers, a leaf holds %d", ErrItemTooLarge, total, lds)
	}
	return total, nil
}

// checkSpan rejects a batch whose last key is not below the key after the
// insertion point (in the leaf, or the first key of the next leaf).
func (o *op) checkSpan(last format.Key) error {
	l, slot := o.p.Leaf(), o.p.slots[0]
	next, ok := format.Key{}, false
	if slot < l.NrItems() {
		next, ok = l.ItemKey(slot), true
	} else {
		next, ok = o.p.upperBound()
	}
	if ok && next.Compare(last) <= 0 {
		return invalid("batch up to %v spans existing key %v", last, next)
	}
	return nil
}

// dropEmptyLeaf removes a leaf a split left empty for an insert that did
// not happen.
func (o *op) dropEmptyLeaf() error {
	if o.p.nodes[0] == nil || o.p.nodes[1] == nil || o.p.Leaf().NrItems() > 0 {
		return nil
	}
	return o.removeLeaf()
}

// fail releases the path and returns the first non-nil error.
func (o *op) fail(errs ...error) error {
	o.p.Release()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// DelItems deletes items [slot, slot+nr) of the path's leaf. The path must
// come from SearchSlot with insLen < 0 (and cow), which kept the locks a
// leaf removal or merge needs. Afterwards the path is only to be released.
// An error (a failed charge for the COW of the neighbour a merge needs)
// comes before anything is deleted, and releases the path.
func DelItems(trans Trans, root *Root, p *Path, slot, nr int) error {
	o := newOp(trans, root, p)
	leaf := p.nodes[0]
	switch {
	case leaf == nil || p.locks[0] != WriteLocked:
		return o.fail(invalid("DelItems on a path without a write-locked leaf"))
	case p.nodes[1] != nil && p.locks[1] != WriteLocked:
		return o.fail(invalid("DelItems on a path not prepared for delete (insLen < 0)"))
	case nr < 1 || slot < 0 || slot+nr > leaf.Leaf().NrItems():
		return o.fail(invalid("delete of items [%d, %d) of %d", slot, slot+nr, leaf.Leaf().NrItems()))
	}
	sib, pslot, toLeft, err := o.mergeTarget(slot, nr)
	if err != nil {
		return o.fail(err)
	}
	l := leaf.Leaf()
	delItems(l, slot, nr)
	o.dirty(leaf)
	switch {
	case p.nodes[1] == nil:
		return nil
	case l.NrItems() == 0:
		return o.removeLeaf()
	case slot == 0:
		if err := o.fixupLowKeys(l.ItemKey(0), 1); err != nil {
			if sib != nil {
				o.unlockRelease(sib)
			}
			return err
		}
	}
	if sib != nil {
		return o.mergeInto(sib, pslot, toLeft)
	}
	return nil
}

// DeleteItem deletes the item with key.
func DeleteItem(trans Trans, root *Root, key format.Key) error {
	var p Path
	defer p.Release()
	found, err := SearchSlot(trans, root, key, &p, -1, true)
	if err != nil {
		return err
	}
	if !found {
		return notFoundError(key)
	}
	return DelItems(trans, root, &p, p.slots[0], 1)
}

// DeleteKeys deletes the items with keys (ascending, all present): each
// run of them lying side by side in one leaf with one DelItems.
func DeleteKeys(trans Trans, root *Root, keys []format.Key) error {
	for len(keys) > 0 {
		n, err := deleteRun(trans, root, keys)
		if err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// deleteRun deletes the items of keys that lie in keys[0]'s leaf from it
// on, and returns how many.
func deleteRun(trans Trans, root *Root, keys []format.Key) (int, error) {
	var p Path
	defer p.Release()
	found, err := SearchSlot(trans, root, keys[0], &p, -1, true)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("%w: %v", ErrNotFound, keys[0])
	}
	l, slot, n := p.Leaf(), p.slots[0], 1
	for n < len(keys) && slot+n < l.NrItems() && l.ItemKey(slot+n) == keys[n] {
		n++
	}
	return n, DelItems(trans, root, &p, slot, n)
}

// ExtendItem grows the data of the item with key by add zero bytes at its
// end (up to format.MaxItemSize); p is left at the item.
func ExtendItem(trans Trans, root *Root, p *Path, key format.Key, add uint32) error {
	if add == 0 {
		return releaseWith(p, invalid("extend by 0 bytes"))
	}
	found, err := searchSlot(trans, root, key, p, int(add), true, roomExtend)
	if err != nil {
		return err
	}
	o := newOp(trans, root, p)
	if !found {
		return o.fail(notFoundError(key))
	}
	l, slot := p.Leaf(), p.slots[0]
	resizeItem(l, slot, l.ItemSize(slot)+add)
	o.dirty(p.nodes[0])
	return nil
}

// TruncateItem shrinks the data of the item with key to size bytes,
// keeping its start; p is left at the item.
func TruncateItem(trans Trans, root *Root, p *Path, key format.Key, size uint32) error {
	found, err := SearchSlot(trans, root, key, p, 0, true)
	if err != nil {
		return err
	}
	o := newOp(trans, root, p)
	if !found {
		return o.fail(notFoundError(key))
	}
	l, slot := p.Leaf(), p.slots[0]
	if old := l.ItemSize(slot); size > old {
		return o.fail(invalid("truncate of %v from %d to %d bytes", key, old, size))
	}
	resizeItem(l, slot, size)
	o.dirty(p.nodes[0])
	return nil
}

// Lookup returns a copy of the data of the item with key.
func Lookup(root *Root, key format.Key) ([]byte, error) {
	var p Path
	defer p.Release()
	found, err := SearchSlot(nil, root, key, &p, 0, false)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFoundError(key)
	}
	return append([]byte(nil), p.ItemData()...), nil
}

// releaseWith releases p and returns err.
func releaseWith(p *Path, err error) error {
	p.Release()
	return err
}
