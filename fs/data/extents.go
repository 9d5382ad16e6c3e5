package data

import (
	"errors"
	"fmt"
	"math"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// fileExtent is one EXTENT_DATA item: the file offset of its key and its
// decoded payload.
type fileExtent struct {
	off uint64
	fe  *format.FileExtent
}

func (e fileExtent) inline() bool { return e.fe.Type == format.FileExtentInline }

// end is the first file byte after the extent. An inline extent covers
// its whole sector, as the tree checker and btrfs_drop_extents count it.
func (e fileExtent) end(sector uint64) uint64 {
	if e.inline() {
		return e.off + alignUp(max(e.fe.RAMBytes, 1), sector)
	}
	return e.off + e.fe.NumBytes
}

// onDisk reports a regular or prealloc extent that is not a hole: it
// references a data extent.
func (e fileExtent) onDisk() bool { return !e.inline() && e.fe.DiskBytenr != 0 }

// written reports an extent whose bytes are stored (inline or regular
// with data), not read as zeros.
func (e fileExtent) written() bool {
	return e.inline() || (e.onDisk() && e.fe.Type == format.FileExtentReg)
}

// nbytes is what the extent adds to the inode's nbytes (btrfs-format.md
// §2.7): num_bytes of an extent on disk, ram_bytes of an inline one.
func (e fileExtent) nbytes() uint64 {
	switch {
	case e.inline():
		return e.fe.RAMBytes
	case e.onDisk():
		return e.fe.NumBytes
	}
	return 0
}

// refOffset is the offset of the extent's EXTENT_DATA_REF: the file
// offset the data extent's start would have.
func (e fileExtent) refOffset() uint64 { return e.off - e.fe.Offset }

func extentKey(ino, off uint64) format.Key {
	return format.Key{ObjectID: ino, Type: format.ExtentDataKey, Offset: off}
}

// extentEndKey is the key after the extents of ino starting below end
// (math.MaxUint64: all of them).
func extentEndKey(ino, end uint64) format.Key {
	if end == math.MaxUint64 {
		return format.Key{ObjectID: ino, Type: format.ExtentDataKey + 1}
	}
	return extentKey(ino, end)
}

// extents returns the file extents of ino overlapping [start, end), in
// order: the one starting at or before start when it reaches past it,
// then every one starting inside the range.
func (f *Files) extents(ino, start, end uint64) ([]fileExtent, error) {
	if start >= end {
		return nil, nil
	}
	from := start
	k, ok, err := keyAtOrBefore(f.root, extentKey(ino, start))
	if err != nil {
		return nil, err
	}
	if ok && k.ObjectID == ino && k.Type == format.ExtentDataKey {
		from = k.Offset
	}
	var out []fileExtent
	it := f.root.Scan(extentKey(ino, from), extentEndKey(ino, end))
	for it.Next() {
		item := it.Item()
		fe, err := format.DecodeFileExtent(item.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: root %d %v: %w", format.ErrCorrupt, f.root.ID, item.Key, err)
		}
		if e := (fileExtent{off: item.Key.Offset, fe: fe}); e.end(f.sector) > start {
			out = append(out, e)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("root %d ino %d: file extents of [%d, %d): %w", f.root.ID, ino, start, end, err)
	}
	return out, nil
}

// inlineExtent returns ino's inline extent, if it has one (at offset 0).
func (f *Files) inlineExtent(ino uint64) (*fileExtent, error) {
	b, err := ctree.Lookup(f.root, extentKey(ino, 0))
	if errors.Is(err, ctree.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	fe, err := format.DecodeFileExtent(b)
	if err != nil {
		return nil, fmt.Errorf("%w: root %d %v: %w", format.ErrCorrupt, f.root.ID, extentKey(ino, 0), err)
	}
	if fe.Type != format.FileExtentInline {
		return nil, nil
	}
	return &fileExtent{fe: fe}, nil
}

// hasData reports whether the sector at pos holds written data (so that
// zeroing part of it means rewriting it).
func (f *Files) hasData(ino, pos uint64) (bool, error) {
	exts, err := f.extents(ino, pos, pos+1)
	for _, e := range exts {
		if e.written() {
			return true, err
		}
	}
	return false, err
}

// keyAtOrBefore returns the last key <= key in root. It holds one path at
// a time.
func keyAtOrBefore(root *ctree.Root, key format.Key) (format.Key, bool, error) {
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(nil, root, key, &p, 0, false)
	if err != nil {
		return format.Key{}, false, err
	}
	if slot := p.Slot(0); found {
		return key, true, nil
	} else if slot > 0 {
		return p.Leaf().ItemKey(slot - 1), true, nil
	}
	ok, err := ctree.PrevLeaf(root, &p)
	if err != nil || !ok {
		return format.Key{}, false, err
	}
	return p.ItemKey(), true, nil
}
