package disk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/ncw/directio"
)

// FileOptions says how OpenFile opens an image file or block device.
type FileOptions struct {
	ReadOnly bool // open O_RDONLY; writes fail with ErrReadOnly
	Create   bool // create a missing regular file
	// Size, with Create, sets a regular file's size (growing it sparse, or
	// shrinking it). Zero keeps the current size.
	Size int64
	// Buffered skips O_DIRECT: I/O goes through the page cache and
	// durability relies on fdatasync.
	Buffered bool
}

func (o FileOptions) validate() error {
	switch {
	case o.Size < 0:
		return fmt.Errorf("negative size %d", o.Size)
	case o.Size > 0 && !o.Create:
		return errors.New("size is only set when creating")
	case o.ReadOnly && o.Create:
		return errors.New("cannot create read-only")
	}
	return nil
}

// ErrReadOnly reports a write to a device opened read-only.
var ErrReadOnly = errors.New("device is read-only")

// FileDevice is a Device over an image file or block device. It uses
// O_DIRECT when the host filesystem accepts it; then any buffer or range not
// aligned to directio.BlockSize goes through an aligned bounce buffer.
// Size is rounded down to a multiple of directio.BlockSize, so every bounce
// range lies inside the device.
type FileDevice struct {
	counters
	file     *os.File
	path     string
	size     int64
	direct   bool
	readOnly bool
	// rmw is held exclusively by an unaligned (read-modify-write) write and
	// shared by every other write, so widening a write to whole blocks never
	// overwrites bytes another goroutine writes beside it.
	rmw sync.RWMutex
}

type opener func(name string, flag int, perm os.FileMode) (*os.File, error)

// OpenFile opens path as a Device.
func OpenFile(path string, opts FileOptions) (*FileDevice, error) {
	return openFile(path, opts, directio.OpenFile)
}

func openFile(path string, opts FileOptions, openDirect opener) (*FileDevice, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	file, direct, err := openMaybeDirect(path, opts, openDirect)
	if err != nil {
		return nil, err
	}
	f := &FileDevice{file: file, path: path, direct: direct, readOnly: opts.ReadOnly}
	if f.size, err = sizeFile(file, opts); err != nil {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if !direct && !opts.Buffered {
		noteBuffered(path) // only for a device that opened
	}
	return f, nil
}

// openMaybeDirect opens with O_DIRECT unless told not to, and falls back to
// buffered I/O when the filesystem refuses O_DIRECT with EINVAL.
func openMaybeDirect(path string, opts FileOptions, openDirect opener) (*os.File, bool, error) {
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	if opts.Create {
		flag |= os.O_CREATE
	}
	if !opts.Buffered {
		file, err := openDirect(path, flag, 0o644)
		if err == nil {
			return file, true, nil
		}
		if !errors.Is(err, syscall.EINVAL) {
			return nil, false, err
		}
	}
	file, err := os.OpenFile(path, flag, 0o644)
	return file, false, err
}

// The buffered-I/O note is printed once per process.
var (
	bufferedNote sync.Once
	noteOut      io.Writer = os.Stderr
)

func noteBuffered(path string) {
	bufferedNote.Do(func() {
		fmt.Fprintf(noteOut, "cowfs: %s: filesystem refuses O_DIRECT; using buffered I/O, writes made durable with fdatasync\n", path)
	})
}

// sizeFile applies opts.Size to a regular file and returns the device size,
// rounded down to a whole number of blocks.
func sizeFile(file *os.File, opts FileOptions) (int64, error) {
	st, err := file.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	switch {
	case st.Mode().IsRegular():
		if opts.Size > 0 {
			if err := file.Truncate(opts.Size); err != nil {
				return 0, err
			}
			size = opts.Size
		}
	case st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0:
		if opts.Size > 0 {
			return 0, errors.New("cannot set the size of a block device")
		}
		if size, err = file.Seek(0, io.SeekEnd); err != nil {
			return 0, err
		}
	case st.IsDir():
		return 0, errors.New("is a directory, not an image file or block device")
	default:
		return 0, fmt.Errorf("is a %s, not an image file or block device", fileKind(st.Mode()))
	}
	return size &^ (directio.BlockSize - 1), nil
}

// Direct reports whether the device was opened with O_DIRECT.
func (f *FileDevice) Direct() bool { return f.direct }

// Path is the path the device was opened with.
func (f *FileDevice) Path() string { return f.path }

// Size is the device size in bytes, a multiple of directio.BlockSize.
func (f *FileDevice) Size() int64 { return f.size }

// Close closes the file.
func (f *FileDevice) Close() error { return f.file.Close() }

// fileKind names the type of a file that is neither a regular file nor a
// block device, for an error message.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return fmt.Sprintf("file of mode %v", m.Type())
}
