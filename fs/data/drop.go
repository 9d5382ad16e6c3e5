package data

import (
	"fmt"
	"syscall"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// drop removes the file range [start, end) (sector-aligned; end may be
// math.MaxUint64) from ino's extents, as the kernel's btrfs_drop_extents:
//
//   - an extent inside the range is deleted, and its data reference
//     dropped (-1);
//   - an extent reaching past one end keeps the part outside: its
//     num_bytes shrinks (the head kept) or its key moves to end with its
//     offset into the data extent advanced (the tail kept);
//   - an extent covering both ends is split: the head stays, the tail
//     becomes a new item at end pointing further into the same data
//     extent, with one more reference of the same (root, ino, offset)
//     identity (+1).
//
// It returns the change of nbytes. Checksums stay: they belong to the
// data extent, deleted at commit with its last reference.
func (f *Files) drop(h *transaction.Handle, ino, start, end uint64) (int64, error) {
	exts, err := f.extents(ino, start, end)
	if err != nil {
		return 0, err
	}
	var whole []format.Key
	var gone, partial []fileExtent
	for _, e := range exts {
		if e.off >= start && e.end(f.sector) <= end {
			whole = append(whole, extentKey(ino, e.off))
			gone = append(gone, e)
		} else {
			partial = append(partial, e)
		}
	}
	if err := ctree.DeleteKeys(h, f.root, whole); err != nil {
		return 0, fmt.Errorf("root %d ino %d: drop extents of [%d, %d): %w", f.root.ID, ino, start, end, err)
	}
	var delta int64
	for _, e := range gone {
		delta -= int64(e.nbytes())
		if e.onDisk() {
			h.AddDataRef(e.fe.DiskBytenr, e.fe.DiskNumBytes, f.root.ID, ino, e.refOffset(), -1)
		}
	}
	for _, e := range partial {
		d, err := f.trim(h, ino, e, start, end)
		if err != nil {
			return 0, err
		}
		delta += d
	}
	return delta, nil
}

// trim removes [start, end) from e, which reaches past it on one side or
// both, and returns the change of nbytes.
func (f *Files) trim(h *transaction.Handle, ino uint64, e fileExtent, start, end uint64) (int64, error) {
	if e.inline() {
		return 0, fmt.Errorf("root %d ino %d: cannot trim the inline extent to drop [%d, %d): %w",
			f.root.ID, ino, start, end, syscall.EINVAL)
	}
	ks, ke := e.off, e.end(f.sector)
	head, tail := *e.fe, *e.fe
	head.NumBytes = start - ks
	tail.Offset += end - ks
	tail.NumBytes = ke - end
	var err error
	removed := min(ke, end) - max(ks, start)
	switch {
	case ks < start && ke > end: // keep both ends: split
		if err = rewriteExtent(h, f.root, extentKey(ino, ks), &head); err == nil {
			err = ctree.InsertItem(h, f.root, extentKey(ino, end), tail.Encode())
		}
		if err == nil && e.onDisk() {
			h.AddDataRef(e.fe.DiskBytenr, e.fe.DiskNumBytes, f.root.ID, ino, e.refOffset(), 1)
		}
	case ks < start: // keep the head
		err = rewriteExtent(h, f.root, extentKey(ino, ks), &head)
	default: // keep the tail, moved to end
		if err = ctree.DeleteItem(h, f.root, extentKey(ino, ks)); err == nil {
			err = ctree.InsertItem(h, f.root, extentKey(ino, end), tail.Encode())
		}
	}
	if err != nil {
		return 0, fmt.Errorf("root %d ino %d: trim the extent at %d to drop [%d, %d): %w", f.root.ID, ino, ks, start, end, err)
	}
	if !e.onDisk() {
		return 0, nil
	}
	return -int64(removed), nil
}

// rewriteExtent overwrites the regular file extent item at key (53 bytes
// either way) with fe.
func rewriteExtent(h *transaction.Handle, root *ctree.Root, key format.Key, fe *format.FileExtent) error {
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(h, root, key, &p, 0, true)
	if err != nil {
		return err
	}
	data := fe.Encode()
	if !found || len(p.ItemData()) != len(data) {
		return fmt.Errorf("%w: file extent %v missing or resized", format.ErrCorrupt, key)
	}
	copy(p.ItemData(), data)
	return nil
}
