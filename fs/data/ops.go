package data

import (
	"fmt"
	"math"
	"syscall"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// Truncate changes ino's size from oldSize to newSize and returns the
// change of nbytes. Shrinking drops the extents past the sector holding
// the new end, trims the one crossing it, and zeroes the rest of that
// sector as the kernel's btrfs_truncate_block: by rewriting the sector
// (which makes a small enough file inline again) or, for an inline
// extent, by truncating its item. Growing adds nothing (NO_HOLES: no hole
// items), except that an inline extent is converted to a regular one when
// the file no longer fits inline.
func (f *Files) Truncate(h *transaction.Handle, ino uint64, oldSize, newSize uint64, nodatasum bool) (int64, error) {
	if err := f.changeable(ino); err != nil {
		return 0, err
	}
	if newSize >= oldSize {
		if newSize > oldSize && !f.inlineOK(newSize) {
			return f.convertInline(h, ino, oldSize, nodatasum)
		}
		return 0, nil
	}
	inl, err := f.inlineExtent(ino)
	if err != nil {
		return 0, err
	}
	var delta int64
	if inl != nil && newSize > 0 && newSize < inl.fe.RAMBytes {
		if delta, err = f.truncateInline(h, ino, inl, newSize); err != nil {
			return 0, err
		}
	}
	d, err := f.drop(h, ino, alignUp(newSize, f.sector), math.MaxUint64)
	if err != nil {
		return 0, err
	}
	delta += d
	if newSize%f.sector == 0 || (inl != nil && newSize < f.sector) {
		return delta, nil // an inline extent's tail went with truncateInline
	}
	last := alignDown(newSize, f.sector)
	if has, err := f.hasData(ino, last); err != nil || !has {
		return delta, err
	}
	buf := make([]byte, newSize-last)
	if err := f.readOld(ino, buf, last, newSize, nodatasum); err != nil {
		return 0, err
	}
	d, err = f.Write(h, ino, last, buf, newSize, nodatasum)
	return delta + d, err
}

// truncateInline shortens ino's inline extent to newSize bytes (0 <
// newSize < ram_bytes). A compressed one cannot be cut: it is left whole
// (the size hides its tail).
func (f *Files) truncateInline(h *transaction.Handle, ino uint64, inl *fileExtent, newSize uint64) (int64, error) {
	if inl.fe.Compression != format.CompressNone {
		return 0, nil
	}
	var p ctree.Path
	defer p.Release()
	key := extentKey(ino, 0)
	if err := ctree.TruncateItem(h, f.root, &p, key, uint32(format.FileExtentInlineHeader+newSize)); err != nil {
		return 0, fmt.Errorf("root %d ino %d: truncate the inline extent to %d bytes: %w", f.root.ID, ino, newSize, err)
	}
	fe := *inl.fe
	fe.RAMBytes, fe.Inline = newSize, fe.Inline[:newSize]
	copy(p.ItemData(), fe.Encode())
	return -int64(inl.fe.RAMBytes - newSize), nil
}

// PunchHole makes the file range [off, off+length) of ino (a file of size
// bytes; the size does not change) read as zeros and returns the change
// of nbytes: whole sectors lose their extents (NO_HOLES: no hole items),
// partial sectors holding data are rewritten with zeros.
func (f *Files) PunchHole(h *transaction.Handle, ino, off, length, size uint64, nodatasum bool) (int64, error) {
	if err := f.changeable(ino); err != nil {
		return 0, err
	}
	end := min(size, off+length)
	if off+length < off {
		end = size
	}
	var delta int64
	zero := func(a, b uint64) error {
		has, err := f.hasData(ino, alignDown(a, f.sector))
		if err != nil || !has {
			return err
		}
		d, err := f.Write(h, ino, a, make([]byte, b-a), size, nodatasum)
		delta += d
		return err
	}
	if off < end && off%f.sector != 0 {
		b := min(alignUp(off, f.sector), end)
		if err := zero(off, b); err != nil {
			return 0, err
		}
		off = b
	}
	if off < end && end%f.sector != 0 {
		a := max(alignDown(end, f.sector), off)
		if err := zero(a, end); err != nil {
			return 0, err
		}
		end = a
	}
	if off < end {
		d, err := f.drop(h, ino, off, end)
		if err != nil {
			return 0, err
		}
		delta += d
	}
	return delta, nil
}

// Allocate fills the holes of [off, off+length) of ino (a file of size
// bytes) with new extents and returns the change of nbytes; the caller
// sets the size to max(size, off+length) (fallocate mode 0).
//
// cowfs writes zeros into regular, checksummed extents where the kernel
// inserts PREALLOC extents (unwritten, no checksums): the space is
// reserved just the same and the file reads the same, at the cost of
// writing the zeros. An inline extent is converted when the new size no
// longer fits inline.
func (f *Files) Allocate(h *transaction.Handle, ino, off, length, size uint64, nodatasum bool) (int64, error) {
	end := off + length
	if end < off || end > math.MaxInt64 {
		return 0, fmt.Errorf("root %d ino %d: allocate %d bytes at %d: %w", f.root.ID, ino, length, off, syscall.EFBIG)
	}
	if length == 0 {
		return 0, nil
	}
	if err := f.changeable(ino); err != nil {
		return 0, err
	}
	var delta int64
	if !f.inlineOK(max(size, end)) {
		d, err := f.convertInline(h, ino, size, nodatasum)
		if err != nil {
			return 0, err
		}
		delta = d
	}
	holes, err := f.holes(ino, alignDown(off, f.sector), alignUp(end, f.sector))
	if err != nil || len(holes) == 0 {
		return delta, err
	}
	d, err := f.fill(h, ino, holes, zeroSource{}, nodatasum)
	return delta + d, err
}

// holes returns the parts of [start, end) (sector-aligned) no extent
// covers, and those covered by hole extents (disk_bytenr 0), merged.
func (f *Files) holes(ino, start, end uint64) ([]span, error) {
	exts, err := f.extents(ino, start, end)
	if err != nil {
		return nil, err
	}
	var out []span
	add := func(a, b uint64) {
		if a >= b {
			return
		}
		if n := len(out); n > 0 && out[n-1].end == a {
			out[n-1].end = b
			return
		}
		out = append(out, span{a, b})
	}
	pos := start
	for _, e := range exts {
		e0, e1 := max(e.off, start), min(e.end(f.sector), end)
		add(pos, e0)
		if !e.inline() && !e.onDisk() {
			add(e0, e1)
		}
		pos = max(pos, e1)
	}
	add(pos, end)
	return out, nil
}

// DropAll removes every extent of ino (its last link is gone), dropping
// their data references; the checksums go at commit with the data
// extents' last references.
func (f *Files) DropAll(h *transaction.Handle, ino uint64) error {
	_, err := f.drop(h, ino, 0, math.MaxUint64)
	return err
}
