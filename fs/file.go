package fs

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"cowfs/disk/format"
	"cowfs/transaction"
)

var timeZero time.Time

// Fallocate modes (fallocate(2)).
const (
	FallocKeepSize  = 1
	FallocPunchHole = 2
)

// openRegular pins and locks the state of regular file ino for a data
// operation; release undoes it.
func (fs *FS) openRegular(op string, ino uint64, notReg syscall.Errno) (*inode, func(), error) {
	in := fs.pin(ino)
	in.mu.Lock()
	release := func() {
		in.mu.Unlock()
		fs.unpin(in)
	}
	if err := fs.load(in); err != nil {
		release()
		return nil, nil, err
	}
	switch in.mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return in, release, nil
	case syscall.S_IFDIR:
		release()
		return nil, nil, opError(op, ino, "", syscall.EISDIR, "")
	}
	release()
	return nil, nil, opError(op, ino, "", notReg, "not a regular file")
}

// Read reads from regular file ino at off into p: the trees' data with the
// buffered writes over it, up to the in-memory size. It returns the bytes
// read (0 at or beyond the end). atime is not updated (as noatime).
func (fs *FS) Read(ino uint64, p []byte, off uint64) (int, error) {
	in, release, err := fs.openRegular("read", ino, syscall.EINVAL)
	if err != nil {
		return 0, err
	}
	defer release()
	if off >= in.size || len(p) == 0 {
		return 0, nil
	}
	n := int(min(uint64(len(p)), in.size-off))
	p = p[:n]
	got, err := fs.readData(in, p, off)
	if err != nil {
		return 0, wrap("read", ino, err)
	}
	clear(p[got:])
	in.buf.overlay(p, off)
	return n, nil
}

// readData reads through the data layer. A commit that trims the
// checksum item of a freed extent deletes it and inserts its remainder
// (transaction/csum.go, trimCsumItem), so a read running beside it can
// find a live extent without checksums for a moment and fail with
// transaction.ErrNoCsum: such a read waits for the commit (Commit returns
// once the running one is done) and retries, twice at most. REQUIRES:
// in.mu.
func (fs *FS) readData(in *inode, p []byte, off uint64) (int, error) {
	for attempt := 0; ; attempt++ {
		n, err := fs.data.ReadAt(in.ino, p, int64(off), in.size, in.nodatasum())
		switch {
		case err == nil || errors.Is(err, io.EOF):
			return n, nil
		case !errors.Is(err, transaction.ErrNoCsum) || attempt == 2 || fs.readOnly:
			return 0, err
		}
		if cerr := fs.t.Commit(); cerr != nil {
			return 0, errors.Join(err, cerr)
		}
	}
}

// Write writes p at off into regular file ino and returns len(p) (less
// when the write would pass MaxFileSize). The data is buffered (see
// delalloc.go) unless Options.DirtyThreshold is 0; i_size and mtime change
// at once in memory. ENOSPC when the data cannot fit the free data space.
func (fs *FS) Write(ino uint64, p []byte, off uint64) (int, error) {
	if err := fs.writable("write", ino); err != nil {
		return 0, err
	}
	if off >= MaxFileSize {
		return 0, opError("write", ino, "", syscall.EFBIG, fmt.Sprintf("offset %d", off))
	}
	if uint64(len(p)) > MaxFileSize-off {
		p = p[:MaxFileSize-off]
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := fs.reserveData(uint64(len(p))); err != nil {
		return 0, wrap("write", ino, err)
	}
	in, release, err := fs.openRegular("write", ino, syscall.EINVAL)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	end := off + uint64(len(p))
	if fs.opts.DirtyThreshold == 0 {
		in.size = max(in.size, end)
		in.mtime = now
		err = fs.writeRun(in, off, p)
		in.mtime = timeZero
		release()
		return len(p), err
	}
	d := in.buf.insert(off, p)
	in.buffered.Add(d)
	fs.dirty.Add(d)
	in.size = max(in.size, end)
	in.mtime = now
	release()
	if fs.dirty.Load() > fs.opts.DirtyThreshold {
		if err := fs.flushOne(ino); err != nil {
			return 0, err
		}
		if fs.dirty.Load() > fs.opts.DirtyThreshold {
			if err := fs.flushAll(true); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

// dataAvail is the data space a write may count on: the free space of the
// DATA block groups and the unallocated device space, less one metadata
// chunk (a tenth of the device) kept for the trees.
func (fs *FS) dataAvail() uint64 {
	a := fs.t.Alloc()
	un := a.UnallocatedBytes()
	un -= min(un, fs.t.Super().TotalBytes/10)
	return a.Space(format.BlockGroupData).Free() + un
}

// reserveData fails with ENOSPC when the buffered data and n more bytes
// exceed dataAvail (the kernel reserves data space at write time, so a
// full filesystem fails the write, not a later flush); it flushes and
// commits once (freeing pinned extents) before failing.
func (fs *FS) reserveData(n uint64) error {
	for attempt := 0; ; attempt++ {
		avail := fs.dataAvail()
		need := uint64(fs.dirty.Load()) + alignUp(n, fs.sectorSize)
		if need <= avail {
			return nil
		}
		if attempt > 0 {
			return fmt.Errorf("%d bytes of data, %d free: %w", need, avail, syscall.ENOSPC)
		}
		if err := fs.flushAll(false); err != nil {
			return err
		}
		if err := fs.t.Commit(); err != nil {
			return err
		}
	}
}

// flushOne flushes the buffered data of inode ino.
func (fs *FS) flushOne(ino uint64) error {
	in := fs.lookupState(ino)
	if in == nil {
		return nil
	}
	defer fs.unpin(in)
	in.mu.Lock()
	defer in.mu.Unlock()
	return fs.flushLocked(in)
}

// writeRun writes p at off through the data layer in one handle and
// persists the size (up to the written end), nbytes and the times of the
// writes. REQUIRES: in.mu.
func (fs *FS) writeRun(in *inode, off uint64, p []byte) error {
	mt := in.mtime
	if mt.IsZero() {
		mt = time.Now()
	}
	items := fs.data.WriteItems(len(p)) + 1
	return fs.run("write", in.ino, items, func(h handle) error {
		delta, err := fs.data.Write(h, in.ino, off, p, in.size, in.nodatasum())
		if err != nil {
			return err
		}
		size := max(in.diskSize, min(in.size, off+uint64(len(p))))
		_, err = fs.updateInode(h, in.ino, func(ii *format.InodeItem) {
			ii.Size = size
			ii.Nbytes = uint64(int64(ii.Nbytes) + delta)
			ii.Mtime, ii.Ctime = timespec(mt), timespec(mt)
		})
		if err == nil {
			in.diskSize = size
		}
		return err
	})
}

// Fsync writes the buffered data of ino and commits the transaction (there
// is no log tree yet, so an fsync costs a commit).
func (fs *FS) Fsync(ino uint64) error {
	if fs.readOnly {
		return nil
	}
	if err := fs.flushOne(ino); err != nil {
		return err
	}
	return fs.t.Commit()
}

// Fallocate preallocates (mode 0, or FallocKeepSize to keep i_size) or
// punches a hole (FallocPunchHole|FallocKeepSize) in regular file ino;
// other modes fail with EOPNOTSUPP.
func (fs *FS) Fallocate(ino uint64, mode uint32, off, length uint64) error {
	const op = "fallocate"
	if err := fs.writable(op, ino); err != nil {
		return err
	}
	switch mode {
	case 0, FallocKeepSize, FallocPunchHole | FallocKeepSize:
	default:
		return opError(op, ino, "", syscall.EOPNOTSUPP, fmt.Sprintf("mode %#x", mode))
	}
	switch {
	case length == 0:
		return opError(op, ino, "", syscall.EINVAL, "length 0")
	case off >= MaxFileSize || length > MaxFileSize-off:
		return opError(op, ino, "", syscall.EFBIG, "")
	}
	in, release, err := fs.openRegular(op, ino, syscall.ENODEV)
	if err != nil {
		return err
	}
	defer release()
	if mode&FallocPunchHole == 0 {
		if err := fs.reserveDataLocked(length); err != nil {
			return wrap(op, ino, err)
		}
	}
	if err := fs.flushLocked(in); err != nil {
		return err
	}
	return fs.run(op, ino, fs.data.WriteItems(int(min(length, maxFlushRun)))+1, func(h handle) error {
		return fs.fallocate(h, in, mode, off, length)
	})
}

// reserveDataLocked is reserveData for a caller holding an inode lock: no
// flush of other inodes, no commit.
func (fs *FS) reserveDataLocked(n uint64) error {
	avail := fs.dataAvail()
	if need := uint64(fs.dirty.Load()) + alignUp(n, fs.sectorSize); need > avail {
		return fmt.Errorf("%d bytes of data, %d free: %w", need, avail, syscall.ENOSPC)
	}
	return nil
}

// fallocate runs in the handle. REQUIRES: in.mu, flushed.
func (fs *FS) fallocate(h handle, in *inode, mode uint32, off, length uint64) error {
	var delta int64
	var err error
	size := in.size
	if mode&FallocPunchHole != 0 {
		delta, err = fs.data.PunchHole(h, in.ino, off, length, in.size, in.nodatasum())
	} else {
		delta, err = fs.data.Allocate(h, in.ino, off, length, in.size, in.nodatasum())
		if mode&FallocKeepSize == 0 {
			size = max(size, off+length)
		}
	}
	if err != nil {
		return err
	}
	now := timespec(time.Now())
	_, err = fs.updateInode(h, in.ino, func(ii *format.InodeItem) {
		if size != ii.Size {
			ii.Size, ii.Mtime = size, now
		}
		ii.Nbytes = uint64(int64(ii.Nbytes) + delta)
		ii.Ctime = now
	})
	if err == nil {
		in.size, in.diskSize = size, size
	}
	return err
}
