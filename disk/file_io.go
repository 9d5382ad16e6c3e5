package disk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"unsafe"

	"github.com/ncw/directio"
	"golang.org/x/sys/unix"
)

const blockSize = directio.BlockSize

// aligned reports whether p and [off, off+len(p)) may go straight to an
// O_DIRECT file descriptor. An empty p may: the file does nothing with it.
func aligned(p []byte, off int64) bool {
	if len(p) == 0 {
		return true
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return addr%directio.AlignSize == 0 && off%blockSize == 0 && len(p)%blockSize == 0
}

// blockRange widens [off, off+n) to whole blocks.
func blockRange(off int64, n int) (lo, hi int64) {
	lo = off &^ (blockSize - 1)
	hi = (off + int64(n) + blockSize - 1) &^ (blockSize - 1)
	return lo, hi
}

// ReadAt reads len(p) bytes at off.
func (f *FileDevice) ReadAt(p []byte, off int64, k Kind) error {
	if err := f.check(p, off); err != nil {
		return err
	}
	var err error
	if !f.direct || aligned(p, off) {
		err = f.pread(p, off)
	} else {
		err = f.readBounce(p, off)
	}
	if err != nil {
		return f.ioErr("read", len(p), off, err)
	}
	f.countRead(k, len(p))
	return nil
}

func (f *FileDevice) readBounce(p []byte, off int64) error {
	lo, hi := blockRange(off, len(p))
	buf := directio.AlignedBlock(int(hi - lo))
	if err := f.pread(buf, lo); err != nil {
		return err
	}
	copy(p, buf[off-lo:])
	return nil
}

// WriteAt writes p at off.
func (f *FileDevice) WriteAt(p []byte, off int64, k Kind) error {
	if f.readOnly {
		return fmt.Errorf("write %d bytes at %d of %s: %w", len(p), off, f.path, ErrReadOnly)
	}
	if err := f.check(p, off); err != nil {
		return err
	}
	var err error
	if !f.direct || aligned(p, off) {
		f.rmw.RLock()
		_, err = f.file.WriteAt(p, off)
		f.rmw.RUnlock()
	} else {
		err = f.writeBounce(p, off)
	}
	if err != nil {
		return f.ioErr("write", len(p), off, err)
	}
	f.countWrite(k, len(p))
	return nil
}

// writeBounce writes p through an aligned buffer covering whole blocks,
// first reading the partly covered first and last blocks.
func (f *FileDevice) writeBounce(p []byte, off int64) error {
	f.rmw.Lock()
	defer f.rmw.Unlock()
	lo, hi := blockRange(off, len(p))
	buf := directio.AlignedBlock(int(hi - lo))
	end := off + int64(len(p))
	if off != lo {
		if err := f.pread(buf[:blockSize], lo); err != nil {
			return err
		}
	}
	if end != hi && (off == lo || hi-lo > blockSize) {
		if err := f.pread(buf[len(buf)-blockSize:], hi-blockSize); err != nil {
			return err
		}
	}
	copy(buf[off-lo:], p)
	_, err := f.file.WriteAt(buf, lo)
	return err
}

// WriteDurable writes p and then flushes.
func (f *FileDevice) WriteDurable(p []byte, off int64, k Kind) error {
	if err := f.WriteAt(p, off, k); err != nil {
		return err
	}
	return f.Flush()
}

// Flush makes completed writes durable with fdatasync.
func (f *FileDevice) Flush() error {
	rc, err := f.file.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) { err = unix.Fdatasync(int(fd)) })
		err = errors.Join(cerr, err)
	}
	if err != nil {
		return fmt.Errorf("flush %s: %w", f.path, err)
	}
	f.countFlush()
	return nil
}

// check rejects I/O beyond the device end.
func (f *FileDevice) check(p []byte, off int64) error {
	if err := checkRange(f.size, len(p), off); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}

// pread fills p from off; a short read is io.ErrUnexpectedEOF.
func (f *FileDevice) pread(p []byte, off int64) error {
	_, err := f.file.ReadAt(p, off)
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ioErr adds the operation and place to err, dropping the *fs.PathError
// layer that would repeat the path.
func (f *FileDevice) ioErr(op string, n int, off int64, err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return fmt.Errorf("%s %d bytes at %d of %s: %w", op, n, off, f.path, err)
}
