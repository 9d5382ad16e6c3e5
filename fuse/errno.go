package fuse

import (
	"errors"
	"log"
	"syscall"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"cowfs/disk/format"
)

// errnoOf maps an error of the filesystem layer to the status FUSE
// returns: the syscall.Errno it wraps; EUCLEAN for corruption; EIO for
// anything else (logged, since the cause would be lost). ENOSYS would make
// the kernel stop asking, so it never leaves here.
func errnoOf(op string, err error) gofuse.Status {
	if err == nil {
		return gofuse.OK
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno) && errno != syscall.ENOSYS:
		if errno == syscall.EIO {
			log.Printf("cowfs: %s: %v", op, err)
		}
		return gofuse.Status(errno)
	case errors.Is(err, format.ErrCorrupt):
		log.Printf("cowfs: %s: %v", op, err)
		return gofuse.Status(syscall.EUCLEAN)
	}
	log.Printf("cowfs: %s: %v (answered EIO)", op, err)
	return gofuse.EIO
}
