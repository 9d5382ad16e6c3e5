package fuse

import (
	"bytes"
	"encoding/binary"
	"os"
	"syscall"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"
)

// The ioctls cowfs serves on the mount's root directory (FUSE passes an
// _IOR ioctl's output size from the command's size field).
const (
	// SyncIoctl commits the running transaction and returns the daemon's
	// pid as a little-endian uint64: _IOR('c', 1, uint64).
	SyncIoctl = 2<<30 | 8<<16 | 'c'<<8 | 1
	// StatusIoctl returns a Status (EncodeStatus's layout) without changing
	// anything: _IOR('c', 2, [StatusSize]byte).
	StatusIoctl = 2<<30 | StatusSize<<16 | 'c'<<8 | 2
	// StatusSize is StatusIoctl's output size.
	StatusSize = 1024
)

// Status is what StatusIoctl reports.
type Status struct {
	PID     int    // the daemon's pid
	Aborted string // why the filesystem was aborted; "" if it was not
}

// EncodeStatus writes s into buf (StatusSize bytes): the pid as a
// little-endian uint64, then the abort reason, NUL-terminated, cut to fit.
func EncodeStatus(s Status, buf []byte) {
	clear(buf)
	binary.LittleEndian.PutUint64(buf, uint64(s.PID))
	copy(buf[8:len(buf)-1], s.Aborted)
}

// DecodeStatus reads what EncodeStatus wrote.
func DecodeStatus(buf []byte) Status {
	text, _, _ := bytes.Cut(buf[8:], []byte{0})
	return Status{PID: int(binary.LittleEndian.Uint64(buf)), Aborted: string(text)}
}

// Ioctl serves SyncIoctl and StatusIoctl on the root directory; anything
// else is ENOTTY, as for a file without ioctls.
func (r *raw) Ioctl(_ <-chan struct{}, in *gofuse.IoctlIn, _ []byte, out *gofuse.IoctlOut, outbuf []byte) (st gofuse.Status) {
	defer recovered("ioctl", &st)
	switch {
	case in.NodeId != gofuse.FUSE_ROOT_ID:
	case in.Cmd == SyncIoctl && len(outbuf) >= 8:
		if err := r.sync(); err != nil {
			return errnoOf("sync", err)
		}
		binary.LittleEndian.PutUint64(outbuf, uint64(os.Getpid()))
		return gofuse.OK
	case in.Cmd == StatusIoctl && len(outbuf) >= StatusSize:
		EncodeStatus(r.status(), outbuf[:StatusSize])
		return gofuse.OK
	}
	return gofuse.Status(syscall.ENOTTY)
}

// status is this daemon's Status.
func (r *raw) status() Status {
	s := Status{PID: os.Getpid()}
	if err := r.fs.Aborted(); err != nil {
		s.Aborted = err.Error()
	}
	return s
}
