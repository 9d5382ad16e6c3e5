package fsck

import (
	"cowfs/disk/format"
)

// fileExtent checks one EXTENT_DATA item of the current inode (#64, #65)
// and adds what it accounts for to nbytes.
func (t *fsTree) fileExtent(at loc, data []byte) {
	c := &t.cur
	fe, err := format.DecodeFileExtent(data)
	if err != nil {
		return
	}
	if c.extents == 0 {
		c.extentAt = at
	}
	c.extents++
	if !c.has || c.inode.Mode&modeType == modeDir {
		return // reported when the inode ends
	}
	t.encoding(at, fe)
	length := fe.NumBytes
	if fe.Type == format.FileExtentInline {
		length = t.inlineExtent(at, fe)
	} else {
		t.diskExtent(at, fe)
	}
	t.extentOrder(at, length)
}

// encoding checks other_encoding is 0 (#64): no other encoding is defined,
// the kernel writes 0, and cowfs refuses to read an extent with another.
// (Encryption is the checker's #25.)
func (t *fsTree) encoding(at loc, fe *format.FileExtent) {
	if fe.OtherEncoding != 0 {
		t.add(64, at, "file extent with other_encoding %d, expect 0 (no other encoding is defined)", fe.OtherEncoding)
	}
}

// extentOrder checks that an extent starts at or after the end of the one
// before, exactly at it without NO_HOLES, and moves the end (#64).
func (t *fsTree) extentOrder(at loc, length uint64) {
	c := &t.cur
	start := at.key.Offset
	switch {
	case start < c.end:
		t.add(64, at, "file extent at %d overlaps the previous one, which ends at %d", start, c.end)
	case start > c.end && !t.noHoles:
		t.add(64, at, "gap [%d, %d) between file extents (NO_HOLES is off)", c.end, start)
	}
	c.end = max(c.end, addSat(start, length))
}

// inlineExtent checks an inline extent and returns the file bytes it
// covers (a whole sector).
func (t *fsTree) inlineExtent(at loc, fe *format.FileExtent) uint64 {
	c := &t.cur
	ss := uint64(t.r.img.Super.SectorSize)
	limit := min(ss-1, uint64(format.MaxItemSize(t.r.img.NodeSize()))-format.FileExtentInlineHeader)
	if fe.Compression != format.CompressNone {
		limit = ss // compressed data may fill the whole sector
	}
	switch {
	case fe.RAMBytes == 0:
		t.add(64, at, "inline extent with ram_bytes 0")
	case fe.RAMBytes > limit:
		t.add(64, at, "inline extent of %d bytes, at most %d", fe.RAMBytes, limit)
	}
	c.nbytes += fe.RAMBytes
	return (fe.RAMBytes + ss - 1) / ss * ss
}

// diskExtent checks a regular or prealloc extent and its checksums.
func (t *fsTree) diskExtent(at loc, fe *format.FileExtent) {
	c := &t.cur
	switch {
	case fe.NumBytes == 0:
		t.add(64, at, "file extent with num_bytes 0")
	case addSat(fe.Offset, fe.NumBytes) > fe.RAMBytes:
		t.add(64, at, "offset %d + num_bytes %d exceed ram_bytes %d", fe.Offset, fe.NumBytes, fe.RAMBytes)
	}
	if fe.Type == format.FileExtentPrealloc && fe.Compression != format.CompressNone {
		t.add(64, at, "prealloc extent is compressed (%d)", fe.Compression)
	}
	if c.inode.Mode&modeType == modeLink {
		t.add(64, at, "symlink %d has a regular extent, expect inline", c.ino)
	}
	if fe.DiskBytenr == 0 {
		return // a hole
	}
	c.nbytes += fe.NumBytes
	t.extentCsums(at, fe)
}

// extentCsums checks the checksums of the data a file extent uses (#65):
// all of it for a regular extent, unless the inode is NODATASUM, when
// none may be; none for a prealloc extent (its data was never written).
// A compressed extent's checksums cover the whole disk extent.
func (t *fsTree) extentCsums(at loc, fe *format.FileExtent) {
	cs := &t.r.x.csum
	if !cs.covered {
		return
	}
	a, b := fe.DiskBytenr+fe.Offset, addSat(fe.DiskBytenr+fe.Offset, fe.NumBytes)
	if fe.Compression != format.CompressNone {
		a, b = fe.DiskBytenr, addSat(fe.DiskBytenr, fe.DiskNumBytes)
	}
	nosum := t.cur.inode.Flags&format.InodeNoDataSum != 0
	switch {
	case fe.Type == format.FileExtentPrealloc && cs.cover.overlaps(a, b):
		t.add(65, at, "prealloc extent [%d, %d) has checksums", a, b)
	case fe.Type == format.FileExtentReg && nosum && cs.cover.overlaps(a, b):
		t.add(65, at, "inode %d is NODATASUM but [%d, %d) has checksums", t.cur.ino, a, b)
	case fe.Type == format.FileExtentReg && !nosum:
		if g, ok := cs.cover.gap(a, b); !ok {
			t.add(65, at, "some checksums missing: no checksum for %d in extent [%d, %d)", g, a, b)
		}
	}
}
