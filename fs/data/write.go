package data

import (
	"fmt"
	"math"
	"syscall"

	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// Write replaces the file range [off, off+len(data)) of ino, a file of
// size bytes, with data, in h's transaction, and returns the change of
// the inode's nbytes (the caller sets i_size to max(size, off+len(data))).
//
// When the whole file afterwards fits inline (at most MaxInline bytes and
// less than a sector) it becomes one inline extent. Otherwise the sectors
// the range touches are written to new regular extents (copy on write;
// the partial first and last sectors are read first, from the old
// extents) and the old file extents over them are dropped; an inline
// extent the range does not reach is converted to a regular one first.
// Nothing changes when the data extents cannot be allocated (ENOSPC).
func (f *Files) Write(h *transaction.Handle, ino uint64, off uint64, data []byte, size uint64, nodatasum bool) (int64, error) {
	if len(data) == 0 {
		return 0, nil
	}
	if err := f.changeable(ino); err != nil {
		return 0, err
	}
	end := off + uint64(len(data))
	if end < off || end > math.MaxInt64 {
		return 0, fmt.Errorf("root %d ino %d: write of %d bytes at %d: %w", f.root.ID, ino, len(data), off, syscall.EFBIG)
	}
	f.stats.bytesWritten.Add(uint64(len(data)))
	newSize := max(size, end)
	if f.inlineOK(newSize) {
		return f.writeInline(h, ino, off, data, size, newSize, nodatasum)
	}
	var delta int64
	if off >= f.sector {
		d, err := f.convertInline(h, ino, size, nodatasum)
		if err != nil {
			return 0, err
		}
		delta = d
	}
	d, err := f.writeRegular(h, ino, off, data, size, nodatasum)
	return delta + d, err
}

// writeInline makes the file's content, [0, newSize), one inline extent:
// the old bytes with data written over them.
func (f *Files) writeInline(h *transaction.Handle, ino, off uint64, data []byte, size, newSize uint64, nodatasum bool) (int64, error) {
	content := make([]byte, newSize)
	if err := f.readOld(ino, content, 0, size, nodatasum); err != nil {
		return 0, err
	}
	copy(content[off:], data)
	delta, err := f.drop(h, ino, 0, math.MaxUint64)
	if err != nil {
		return 0, err
	}
	fe := &format.FileExtent{Generation: h.Transid(), RAMBytes: newSize, Type: format.FileExtentInline, Inline: content}
	if err := ctree.InsertItem(h, f.root, extentKey(ino, 0), fe.Encode()); err != nil {
		return 0, fmt.Errorf("root %d ino %d: insert inline extent: %w", f.root.ID, ino, err)
	}
	f.stats.inline.Add(1)
	return delta + int64(newSize), nil
}

// convertInline rewrites ino's inline extent, if any, as a regular extent
// of one sector (the kernel does the same when the file grows past the
// inline limit).
func (f *Files) convertInline(h *transaction.Handle, ino, size uint64, nodatasum bool) (int64, error) {
	inl, err := f.inlineExtent(ino)
	if err != nil || inl == nil {
		return 0, err
	}
	if err := f.unsupported(ino, *inl); err != nil {
		return 0, err
	}
	n := min(inl.fe.RAMBytes, uint64(len(inl.fe.Inline)), size)
	if n == 0 {
		return f.drop(h, ino, 0, f.sector)
	}
	return f.writeRegular(h, ino, 0, inl.fe.Inline[:n], size, nodatasum)
}

// writeRegular writes data at off into new regular extents covering the
// sectors of [off, off+len(data)).
func (f *Files) writeRegular(h *transaction.Handle, ino, off uint64, data []byte, size uint64, nodatasum bool) (int64, error) {
	end := off + uint64(len(data))
	a, b := alignDown(off, f.sector), alignUp(end, f.sector)
	head, tail := make([]byte, off-a), make([]byte, b-end)
	if err := f.readOld(ino, head, a, size, nodatasum); err != nil {
		return 0, err
	}
	if err := f.readOld(ino, tail, end, size, nodatasum); err != nil {
		return 0, err
	}
	src := &bytesSource{start: a, parts: [][]byte{head, data, tail}}
	return f.fill(h, ino, []span{{a, b}}, src, nodatasum)
}

// span is a sector-aligned file range [start, end).
type span struct{ start, end uint64 }

// source provides the bytes of new extents by file offset.
type source interface {
	fill(b []byte, pos uint64)
}

// bytesSource is the concatenation of parts from file offset start.
type bytesSource struct {
	start uint64
	parts [][]byte
}

func (s *bytesSource) fill(b []byte, pos uint64) {
	clear(b)
	rel := pos - s.start
	for _, p := range s.parts {
		if len(b) == 0 {
			return
		}
		if rel >= uint64(len(p)) {
			rel -= uint64(len(p))
			continue
		}
		n := copy(b, p[rel:])
		b, rel = b[n:], 0
	}
}

// zeroSource provides zeros.
type zeroSource struct{}

func (zeroSource) fill(b []byte, _ uint64) { clear(b) }

// piece is one new data extent and where it goes in the file.
type piece struct{ fileOff, bytenr, length uint64 }

// fill replaces the file ranges spans with new regular extents holding
// src's bytes: it allocates every extent first (an ENOSPC changes
// nothing; the extents are freed at commit), writes and checksums the
// data, then drops the old file extents and inserts the new ones, their
// checksums and their references.
func (f *Files) fill(h *transaction.Handle, ino uint64, spans []span, src source, nodatasum bool) (int64, error) {
	var pieces []piece
	for _, sp := range spans {
		for pos := sp.start; pos < sp.end; {
			bytenr, n, err := h.AllocDataUpTo(min(sp.end-pos, MaxExtentSize), f.sector)
			if err != nil {
				return 0, fmt.Errorf("root %d ino %d: data for [%d, %d): %w", f.root.ID, ino, pos, sp.end, err)
			}
			pieces = append(pieces, piece{fileOff: pos, bytenr: bytenr, length: n})
			pos += n
		}
	}
	sums := make([][]byte, len(pieces))
	for i, pc := range pieces {
		s, err := f.writeData(ino, pc, src, nodatasum)
		if err != nil {
			return 0, err
		}
		sums[i] = s
	}
	var delta int64
	for _, sp := range spans {
		d, err := f.drop(h, ino, sp.start, sp.end)
		if err != nil {
			return 0, err
		}
		delta += d
	}
	for i, pc := range pieces {
		if err := f.insertExtent(h, ino, pc, sums[i], nodatasum); err != nil {
			return 0, err
		}
		delta += int64(pc.length)
	}
	return delta, nil
}

// writeData writes src's bytes for pc to every copy of its data extent,
// ioSize at a time from an aligned buffer, and returns their checksums
// (none for nodatasum).
func (f *Files) writeData(ino uint64, pc piece, src source, nodatasum bool) ([]byte, error) {
	copies, err := f.cmap.Copies(pc.bytenr, pc.length)
	if err != nil {
		return nil, fmt.Errorf("root %d ino %d: data extent %d: %w", f.root.ID, ino, pc.bytenr, err)
	}
	var sums []byte
	if !nodatasum {
		sums = make([]byte, 0, pc.length/f.sector*uint64(f.csumSize))
	}
	bp := getBuf(pc.length)
	defer putBuf(bp)
	for done := uint64(0); done < pc.length; {
		n := min(pc.length-done, ioSize)
		b := (*bp)[:n]
		src.fill(b, pc.fileOff+done)
		if !nodatasum {
			sums = f.csums(b, sums)
		}
		for _, phys := range copies {
			if err := f.dev.WriteAt(b, phys+int64(done), disk.KindData); err != nil {
				return nil, fmt.Errorf("root %d ino %d: write data at %d: %w", f.root.ID, ino, pc.bytenr+done, err)
			}
		}
		f.stats.dataWritten.Add(n * uint64(len(copies)))
		done += n
	}
	return sums, nil
}

// insertExtent inserts pc's EXTENT_DATA item (regular, generation the
// transaction, ram_bytes = disk_num_bytes = num_bytes = its length,
// offset 0), its checksums and the data reference from (root, ino,
// fileOff).
func (f *Files) insertExtent(h *transaction.Handle, ino uint64, pc piece, sums []byte, nodatasum bool) error {
	fe := &format.FileExtent{Generation: h.Transid(), RAMBytes: pc.length, Type: format.FileExtentReg,
		DiskBytenr: pc.bytenr, DiskNumBytes: pc.length, NumBytes: pc.length}
	if err := ctree.InsertItem(h, f.root, extentKey(ino, pc.fileOff), fe.Encode()); err != nil {
		return fmt.Errorf("root %d ino %d: insert file extent at %d: %w", f.root.ID, ino, pc.fileOff, err)
	}
	if !nodatasum {
		if err := h.InsertCsums(pc.bytenr, sums); err != nil {
			return fmt.Errorf("root %d ino %d: %w", f.root.ID, ino, err)
		}
	}
	h.AddDataRef(pc.bytenr, pc.length, f.root.ID, ino, pc.fileOff, 1)
	f.stats.extents.Add(1)
	return nil
}
