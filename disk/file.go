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
	// AllowWriter, with ReadOnly, opens an image while another open writes
	// it (Writer names the writer): for inspection tools, which warn. Any
	// other open of an image in use fails with an InUseError (lock.go).
	AllowWriter bool
}

func (o FileOptions) validate() error {
	switch {
	case o.Size < 0:
		return fmt.Errorf("negative size %d", o.Size)
	case o.Size > 0 && !o.Create:
		return errors.New("size is only set when creating")
	case o.ReadOnly && o.Create:
		return errors.New("cannot create read-only")
	case o.AllowWriter && !o.ReadOnly:
		return errors.New("only a read-only open may share an image with a writer")
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
	writer   *Holder // who writes the image, for an AllowWriter open
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
	if errors.Is(err, syscall.EBUSY) {
		return nil, busyError(path)
	}
	if err != nil {
		return nil, err
	}
	f := &FileDevice{file: file, path: path, direct: direct, readOnly: opts.ReadOnly}
	if err := f.setup(opts); err != nil {
		file.Close()
		return nil, err
	}
	if !direct && !opts.Buffered {
		noteBuffered(path) // only for a device that opened
	}
	return f, nil
}

// setup locks the opened file (before anything can change it) and sizes
// it.
func (f *FileDevice) setup(opts FileOptions) error {
	st, err := f.file.Stat()
	if err != nil {
		return err
	}
	if err := f.lock(opts, st); err != nil {
		return err
	}
	if f.size, err = sizeFile(f.file, st, opts); err != nil {
		return &fs.PathError{Op: "open", Path: f.path, Err: err}
	}
	return nil
}

// openMaybeDirect opens with O_DIRECT unless told not to, and falls back to
// buffered I/O when the filesystem refuses O_DIRECT with EINVAL.
func openMaybeDirect(path string, opts FileOptions, openDirect opener) (*os.File, bool, error) {
	flag := openFlags(path, opts)
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

// openFlags: read-only or read-write, O_CREAT if asked, and O_EXCL for a
// block device opened read-write (EBUSY if it is mounted or held
// exclusively, and nobody else can hold it while cowfs does).
func openFlags(path string, opts FileOptions) int {
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	if st, err := os.Stat(path); err == nil && isBlockDevice(st.Mode()) && !opts.ReadOnly {
		return flag | syscall.O_EXCL
	}
	if opts.Create {
		flag |= os.O_CREATE
	}
	return flag
}

// busyError names who holds the block device at path that refused
// O_EXCL: the cowfs process holding its lock, else the kernel.
func busyError(path string) error {
	h := &Holder{Kernel: busyDevice}
	if st, err := os.Stat(path); err == nil {
		if l := lockHolder(st); l.PID != 0 {
			h = l
		}
	}
	return &InUseError{Path: path, Holder: *h}
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
func sizeFile(file *os.File, st fs.FileInfo, opts FileOptions) (int64, error) {
	var err error
	size := st.Size()
	switch {
	case st.Mode().IsRegular():
		if opts.Size > 0 {
			if err := file.Truncate(opts.Size); err != nil {
				return 0, err
			}
			size = opts.Size
		}
	case isBlockDevice(st.Mode()):
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
