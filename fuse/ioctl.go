package fuse

import (
	"encoding/binary"
	"os"
	"syscall"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"
)

// SyncIoctl is the ioctl, issued on the mount's root directory, that
// commits the running transaction and returns the daemon's pid as a
// little-endian uint64: _IOR('c', 1, uint64).
const SyncIoctl = 2<<30 | 8<<16 | 'c'<<8 | 1

// Ioctl serves SyncIoctl on the root directory; anything else is ENOTTY,
// as for a file without ioctls.
func (r *raw) Ioctl(_ <-chan struct{}, in *gofuse.IoctlIn, _ []byte, out *gofuse.IoctlOut, outbuf []byte) (st gofuse.Status) {
	defer recovered("ioctl", &st)
	if in.Cmd != SyncIoctl || in.NodeId != gofuse.FUSE_ROOT_ID || len(outbuf) < 8 {
		return gofuse.Status(syscall.ENOTTY)
	}
	if err := r.sync(); err != nil {
		return errnoOf("sync", err)
	}
	binary.LittleEndian.PutUint64(outbuf, uint64(os.Getpid()))
	return gofuse.OK
}
