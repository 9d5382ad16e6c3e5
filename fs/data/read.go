package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"syscall"

	"cowfs/disk"
	"cowfs/transaction"
)

// ReadAt reads file ino's bytes [off, off+len(p)) as io.ReaderAt does,
// for a file of size bytes: fewer at the end of the file, with io.EOF.
// Holes and prealloc extents read as zeros, inline extents from their
// item; every sector of a regular extent is verified against its checksum
// unless nodatasum (the inode's NODATASUM flag): a mismatch or a missing
// checksum fails with EIO (*CsumError). A compressed or encoded extent
// fails with an error wrapping syscall.EOPNOTSUPP that names it.
func (f *Files) ReadAt(ino uint64, p []byte, off int64, size uint64, nodatasum bool) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("root %d ino %d: read at %d: %w", f.root.ID, ino, off, syscall.EINVAL)
	}
	pos := uint64(off)
	if pos >= size {
		return 0, io.EOF
	}
	n := int(min(uint64(len(p)), size-pos))
	if err := f.read(ino, p[:n], pos, nodatasum); err != nil {
		return 0, err
	}
	f.stats.bytesRead.Add(uint64(n))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// read fills buf with the file bytes [pos, pos+len(buf)) as the extents
// hold them (no size limit: past the extents, zeros).
func (f *Files) read(ino uint64, buf []byte, pos uint64, nodatasum bool) error {
	clear(buf)
	end := pos + uint64(len(buf))
	exts, err := f.extents(ino, pos, end)
	if err != nil {
		return err
	}
	for _, e := range exts {
		a, b := max(e.off, pos), min(e.end(f.sector), end)
		if a >= b || !e.written() {
			continue
		}
		if err := f.unsupported(ino, e); err != nil {
			return err
		}
		dst := buf[a-pos : b-pos]
		if e.inline() {
			data := e.fe.Inline[:min(uint64(len(e.fe.Inline)), e.fe.RAMBytes)]
			if i := a - e.off; i < uint64(len(data)) {
				copy(dst, data[i:])
			}
			continue
		}
		if err := f.readExtent(ino, e, a, dst, nodatasum); err != nil {
			return err
		}
	}
	return nil
}

// readExtent reads file bytes [a, a+len(dst)) of regular extent e: whole
// sectors, ioSize at a time, each verified.
func (f *Files) readExtent(ino uint64, e fileExtent, a uint64, dst []byte, nodatasum bool) error {
	end := a + uint64(len(dst))
	bp := getBuf(alignUp(end, f.sector) - alignDown(a, f.sector))
	defer putBuf(bp)
	for piece := alignDown(a, f.sector); piece < end; {
		n := min(alignUp(end, f.sector)-piece, ioSize)
		b := (*bp)[:n]
		logical := e.fe.DiskBytenr + e.fe.Offset + (piece - e.off)
		if err := f.readVerified(ino, piece, logical, b, nodatasum); err != nil {
			return err
		}
		s, t := max(piece, a), min(piece+n, end)
		copy(dst[s-a:t-a], b[s-piece:t-piece])
		piece += n
	}
	return nil
}

// readVerified reads the sectors at logical (file offset fileOff) into b
// and checks them against their checksums, trying each copy in turn.
func (f *Files) readVerified(ino, fileOff, logical uint64, b []byte, nodatasum bool) error {
	copies, err := f.cmap.Copies(logical, uint64(len(b)))
	if err != nil {
		return fmt.Errorf("root %d ino %d off %d: data at %d: %w (%w)", f.root.ID, ino, fileOff, logical, err, syscall.EIO)
	}
	var sums []byte
	if !nodatasum {
		if sums, err = f.fs.LookupCsums(logical, uint64(len(b))); err != nil {
			var miss *transaction.CsumMissingError
			if errors.As(err, &miss) {
				f.stats.csumFailures.Add(1)
				return &CsumError{Root: f.root.ID, Ino: ino, FileOffset: fileOff + (miss.Sector - logical),
					Logical: miss.Sector, Err: err}
			}
			return err
		}
	}
	var first *CsumError
	for i, phys := range copies {
		if err := f.dev.ReadAt(b, phys, disk.KindData); err != nil {
			return fmt.Errorf("root %d ino %d off %d: read data at %d: %w (%w)", f.root.ID, ino, fileOff, logical, err, syscall.EIO)
		}
		if nodatasum {
			return nil
		}
		bad := f.verify(b, sums)
		if bad == nil {
			return nil
		}
		if first == nil {
			bad.Root, bad.Ino, bad.Mirror = f.root.ID, ino, i+1
			bad.FileOffset, bad.Logical = fileOff+bad.FileOffset, logical+bad.Logical
			first = bad
		}
	}
	f.stats.csumFailures.Add(1)
	return first
}

// verify checks each sector of b against sums; it returns the first
// mismatch with offsets relative to b's start, or nil.
func (f *Files) verify(b, sums []byte) *CsumError {
	cs := f.csumSize
	for i := 0; i*int(f.sector) < len(b); i++ {
		sum := f.csumType.Sum(b[i*int(f.sector) : (i+1)*int(f.sector)])
		if want := sums[i*cs : (i+1)*cs]; !bytes.Equal(sum[:cs], want) {
			off := uint64(i) * f.sector
			return &CsumError{FileOffset: off, Logical: off, Have: sum[:cs:cs], Want: bytes.Clone(want)}
		}
	}
	return nil
}

// readOld fills buf with the file's bytes from pos as they are before a
// change: the bytes below size from the extents, zeros from size on.
func (f *Files) readOld(ino uint64, buf []byte, pos, size uint64, nodatasum bool) error {
	clear(buf)
	if pos >= size || len(buf) == 0 {
		return nil
	}
	f.stats.rmw.Add(1)
	return f.read(ino, buf[:min(uint64(len(buf)), size-pos)], pos, nodatasum)
}

// csums computes the checksums of the sectors of b.
func (f *Files) csums(b []byte, out []byte) []byte {
	for i := 0; i*int(f.sector) < len(b); i++ {
		sum := f.csumType.Sum(b[i*int(f.sector) : (i+1)*int(f.sector)])
		out = append(out, sum[:f.csumSize]...)
	}
	return out
}
