package fs

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"cowfs/disk/format"
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
	if err := fs.regular(op, in, notReg); err != nil {
		release()
		return nil, nil, err
	}
	return in, release, nil
}

// regular loads in and fails unless it is a regular file: EISDIR for a
// directory, notReg otherwise. REQUIRES: in.mu (shared: in is loaded).
func (fs *FS) regular(op string, in *inode, notReg syscall.Errno) error {
	if err := fs.load(in); err != nil {
		return err
	}
	switch in.mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return nil
	case syscall.S_IFDIR:
		return opError(op, in.ino, "", syscall.EISDIR, "")
	}
	return opError(op, in.ino, "", notReg, "not a regular file")
}

// openForRead is openRegular for a read, which holds in.mu shared
// (reads of one file run side by side; writes and flushes wait). The
// first use loads the inode exclusively.
func (fs *FS) openForRead(ino uint64) (*inode, func(), error) {
	in := fs.pin(ino)
	in.mu.RLock()
	if !in.loaded && !in.gone {
		in.mu.RUnlock()
		in.mu.Lock()
		err := fs.load(in)
		in.mu.Unlock()
		if err != nil {
			fs.unpin(in)
			return nil, nil, err
		}
		in.mu.RLock()
	}
	release := func() {
		in.mu.RUnlock()
		fs.unpin(in)
	}
	if err := fs.regular("read", in, syscall.EINVAL); err != nil { // or gone meanwhile
		release()
		return nil, nil, err
	}
	return in, release, nil
}

// Read reads from regular file ino at off into p: the trees' data with the
// buffered writes over it, up to the in-memory size. It returns the bytes
// read (0 at or beyond the end). atime is not updated (as noatime).
func (fs *FS) Read(ino uint64, p []byte, off uint64) (int, error) {
	in, release, err := fs.openForRead(ino)
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

// readData reads through the data layer. REQUIRES: in.mu, shared or not.
func (fs *FS) readData(in *inode, p []byte, off uint64) (int, error) {
	n, err := fs.data.ReadAt(in.ino, p, int64(off), in.size, in.nodatasum())
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// Write writes p at off into regular file ino and returns len(p) (less
// when the write would pass MaxFileSize). The data is buffered (see
// delalloc.go) unless Options.DirtyThreshold is 0; i_size and mtime change
// at once in memory. ENOSPC when the space its flush needs cannot be
// reserved (reserve.go), even after flushing every buffer and a commit.
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
	if fs.opts.DirtyThreshold == 0 {
		return fs.writeThrough(ino, p, off)
	}
	if err := fs.buffer(ino, p, off); err != nil {
		return 0, err
	}
	if fs.dirty.Load() >= fs.opts.DirtyThreshold {
		if err := fs.flushOne(ino); err != nil {
			return 0, err
		}
		if fs.dirty.Load() >= fs.opts.DirtyThreshold {
			if err := fs.flushAll(true); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

// buffer reserves what flushing p will need and copies it into ino's
// buffer; out of space, withRoom flushes and commits before ENOSPC, with
// nothing buffered.
func (fs *FS) buffer(ino uint64, p []byte, off uint64) error {
	err := fs.withRoom(false, func() error {
		in, release, err := fs.openRegular("write", ino, syscall.EINVAL)
		if err != nil {
			return err
		}
		defer release()
		if err := fs.reserveTo(in, fs.needAfterInsert(in, off, len(p))); err != nil {
			return wrap("write", ino, err)
		}
		d := in.buf.insert(off, p, int(fs.opts.DirtyThreshold), &fs.spare)
		in.buffered.Add(d)
		fs.dirty.Add(d)
		in.size = max(in.size, off+uint64(len(p)))
		in.mtime = time.Now()
		return nil
	})
	return err
}

// writeThrough writes p at off to the trees at once, with its data space
// reserved first.
func (fs *FS) writeThrough(ino uint64, p []byte, off uint64) (int, error) {
	done, err := fs.reserveData(fs.runNeed(off, len(p)).data, false)
	if err != nil {
		return 0, wrap("write", ino, err)
	}
	defer done()
	in, release, err := fs.openRegular("write", ino, syscall.EINVAL)
	if err != nil {
		return 0, err
	}
	defer release()
	h, err := fs.t.Start(fs.data.WriteItems(len(p)) + 1)
	if err != nil {
		return 0, wrap("write", ino, err)
	}
	in.size = max(in.size, off+uint64(len(p)))
	in.mtime = time.Now()
	err = fs.writeRun(h, in, off, p)
	in.mtime = timeZero
	return len(p), err
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

// writeRun writes p at off through the data layer in handle h, which it
// ends, and persists the size (up to the written end), nbytes and the
// times of the writes. REQUIRES: in.mu.
func (fs *FS) writeRun(h handle, in *inode, off uint64, p []byte) error {
	mt := in.mtime
	if mt.IsZero() {
		mt = time.Now()
	}
	return fs.runIn(h, "write", in.ino, func(h handle) error {
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
		done, err := fs.reserveData(fs.spanNeed(off, off+length).data, true)
		if err != nil {
			return wrap(op, ino, err)
		}
		defer done()
	}
	if err := fs.flushLocked(in); err != nil {
		return err
	}
	if mode&FallocPunchHole != 0 {
		return fs.punch(in, off, length)
	}
	return fs.run(op, ino, fs.data.WriteItems(int(min(length, maxFlushRun)))+1, func(h handle) error {
		return fs.fallocate(h, in, mode, off, length)
	})
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
