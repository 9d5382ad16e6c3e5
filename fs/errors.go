package fs

import (
	"errors"
	"fmt"
	"syscall"

	"cowfs/ctree"
)

// Errors. Every error an operation returns wraps the syscall.Errno the
// kernel returns in the same situation, so the FUSE adapter maps it with
// errors.As (or errors.Is against the errno). Transaction errors keep their
// own wrapping: transaction.ErrReadOnly matches EROFS, a failed reservation
// matches ENOSPC. Anything else (corruption, I/O) wraps no errno; the
// adapter reports it as EIO.

// opError is an operation's failure: the operation, the inode (and name)
// it was about, and the errno. It is formatted only when printed (ENOENT
// is a lookup's ordinary answer).
func opError(op string, ino uint64, name string, errno syscall.Errno, detail string) error {
	return &opErr{op: op, ino: ino, name: name, errno: errno, detail: detail}
}

type opErr struct {
	op, name, detail string
	ino              uint64
	errno            syscall.Errno
}

func (e *opErr) Error() string {
	where := fmt.Sprintf("inode %d", e.ino)
	if e.name != "" {
		where = fmt.Sprintf("%q in directory %d", e.name, e.ino)
	}
	if e.detail != "" {
		return fmt.Sprintf("%s %s: %s: %v", e.op, where, e.detail, e.errno)
	}
	return fmt.Sprintf("%s %s: %v", e.op, where, e.errno)
}

func (e *opErr) Unwrap() error { return e.errno }

// wrap adds the operation and inode to an error from a lower layer; a
// missing item becomes ENOENT.
func wrap(op string, ino uint64, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ctree.ErrNotFound) {
		return fmt.Errorf("%s inode %d: %w: %w", op, ino, err, syscall.ENOENT)
	}
	return fmt.Errorf("%s inode %d: %w", op, ino, err)
}

// Errno returns the errno err wraps, or EIO when it wraps none: the table
// STYLE.md asks the FUSE adapter to apply at its edge.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
