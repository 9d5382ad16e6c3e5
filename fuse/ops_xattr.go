package fuse

import (
	"strings"
	"syscall"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"cowfs/fs"
)

// GetXAttr with an empty dest asks for the size.
func (r *raw) GetXAttr(_ <-chan struct{}, h *gofuse.InHeader, name string, dest []byte) (_ uint32, st gofuse.Status) {
	defer recovered("getxattr", &st)
	v, err := r.fs.GetXattr(r.ino(h.NodeId), name)
	if err != nil {
		return 0, errnoOf("getxattr", err)
	}
	return copyOut(v, dest)
}

func (r *raw) ListXAttr(_ <-chan struct{}, h *gofuse.InHeader, dest []byte) (_ uint32, st gofuse.Status) {
	defer recovered("listxattr", &st)
	names, err := r.fs.ListXattr(r.ino(h.NodeId))
	if err != nil {
		return 0, errnoOf("listxattr", err)
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(0)
	}
	return copyOut([]byte(b.String()), dest)
}

func copyOut(v, dest []byte) (uint32, gofuse.Status) {
	if len(dest) == 0 {
		return uint32(len(v)), gofuse.OK
	}
	if len(v) > len(dest) {
		return uint32(len(v)), gofuse.Status(syscall.ERANGE)
	}
	return uint32(copy(dest, v)), gofuse.OK
}

func (r *raw) SetXAttr(_ <-chan struct{}, in *gofuse.SetXAttrIn, name string, data []byte) (st gofuse.Status) {
	defer recovered("setxattr", &st)
	flags := in.Flags
	if in.SetXAttrFlags&gofuse.SETXATTR_ACL_KILL_SGID != 0 {
		flags |= fs.XattrKillSGID
	}
	return errnoOf("setxattr", r.fs.SetXattr(r.ino(in.NodeId), name, data, flags))
}

func (r *raw) RemoveXAttr(_ <-chan struct{}, h *gofuse.InHeader, name string) (st gofuse.Status) {
	defer recovered("removexattr", &st)
	return errnoOf("removexattr", r.fs.RemoveXattr(r.ino(h.NodeId), name))
}
