package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// One writer per image. A read-write open takes an exclusive flock(2) on
// the image (and opens a block device O_EXCL, as the kernel's mount does);
// a read-only open takes a shared one. flock locks belong to the open file
// description, so they go when the device is closed or its process dies:
// a killed daemon leaves no stale lock. /proc/locks names the pid of a
// flock holder (OFD locks show -1 there). The kernel's own mount of the
// image through a loop device takes no lock; it is found in sysfs
// (loop.go). docs/mount.md, "One writer per image".

// ErrInUse reports an image that another open holds (InUseError).
var ErrInUse = errors.New("image in use")

// InUseError reports an open refused because Holder holds the image.
type InUseError struct {
	Path   string
	Holder Holder
}

func (e *InUseError) Error() string { return fmt.Sprintf("%s is in use: %s", e.Path, e.Holder) }

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Holder describes who holds an image.
type Holder struct {
	PID     int    // the holding process; 0 if it cannot be known
	Command string // its command line, if known
	Writes  bool   // it has the image open read-write
	Kernel  string // set when the kernel holds it: how (a loop mount, a busy block device)
}

func (h Holder) String() string {
	if h.Kernel != "" {
		return h.Kernel
	}
	if h.PID == 0 {
		return "another process holds its lock (its pid is not visible here)"
	}
	mode := "read-only"
	if h.Writes {
		mode = "read-write"
	}
	if h.Command == "" {
		return fmt.Sprintf("pid %d has it open %s", h.PID, mode)
	}
	return fmt.Sprintf("pid %d (%s) has it open %s", h.PID, h.Command, mode)
}

// lock takes the image's lock for opts. A read-only open with AllowWriter
// succeeds while a writer holds the image and records it (Writer);
// otherwise a holder refuses the open. A host filesystem without flock
// leaves the image unlocked (the kernel's use of it is still looked for).
func (f *FileDevice) lock(opts FileOptions, st fs.FileInfo) error {
	how := unix.LOCK_EX
	if opts.ReadOnly {
		how = unix.LOCK_SH
	}
	var h *Holder
	switch err := flock(f.file, how|unix.LOCK_NB); {
	case errors.Is(err, unix.EWOULDBLOCK):
		h = lockHolder(st)
		h.Writes = h.Writes || opts.ReadOnly // a shared lock conflicts only with a writer
	default:
		h = kernelHolder(f.path, st, opts.ReadOnly)
	}
	if h == nil {
		return nil
	}
	if opts.ReadOnly && opts.AllowWriter {
		f.writer = h
		return nil
	}
	return &InUseError{Path: f.path, Holder: *h}
}

// flock applies flock(2) to file; with LOCK_NB it never waits.
func flock(file *os.File, how int) error {
	rc, err := file.SyscallConn()
	if err != nil {
		return err
	}
	cerr := rc.Control(func(fd uintptr) { err = unix.Flock(int(fd), how) })
	return errors.Join(cerr, err)
}

// Writer is who writes the image, for a read-only open with AllowWriter
// that found it held (nil: nobody it could see). Reading an image while
// it is written is unreliable: blocks change and are freed under the
// reader.
func (f *FileDevice) Writer() *Holder { return f.writer }
