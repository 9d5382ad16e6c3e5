package fuse

import (
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"cowfs/fs"
)

func (r *raw) GetAttr(_ <-chan struct{}, in *gofuse.GetAttrIn, out *gofuse.AttrOut) (st gofuse.Status) {
	defer recovered("getattr", &st)
	a, err := r.fs.GetAttr(r.ino(in.NodeId))
	if err != nil {
		return errnoOf("getattr", err)
	}
	r.fillAttrOut(a, out)
	return gofuse.OK
}

func (r *raw) SetAttr(_ <-chan struct{}, in *gofuse.SetAttrIn, out *gofuse.AttrOut) (st gofuse.Status) {
	defer recovered("setattr", &st)
	a, err := r.fs.SetAttr(r.ino(in.NodeId), setAttrIn(in))
	if err != nil {
		return errnoOf("setattr", err)
	}
	r.fillAttrOut(a, out)
	return gofuse.OK
}

// setAttrIn picks the fields the kernel marked valid.
func setAttrIn(in *gofuse.SetAttrIn) fs.SetAttrIn {
	var s fs.SetAttrIn
	if m, ok := in.GetMode(); ok {
		s.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		s.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		s.GID = &g
	}
	if sz, ok := in.GetSize(); ok {
		s.Size = &sz
	}
	if t, ok := in.GetATime(); ok {
		s.Atime = &t
	}
	if t, ok := in.GetMTime(); ok {
		s.Mtime = &t
	}
	return s
}

// Access: permissions are the kernel's (default_permissions) or nobody's;
// the daemon grants what exists.
func (r *raw) Access(_ <-chan struct{}, in *gofuse.AccessIn) (st gofuse.Status) {
	defer recovered("access", &st)
	_, err := r.fs.GetAttr(r.ino(in.NodeId))
	return errnoOf("access", err)
}

func (r *raw) StatFs(_ <-chan struct{}, _ *gofuse.InHeader, out *gofuse.StatfsOut) (st gofuse.Status) {
	defer recovered("statfs", &st)
	s, err := r.fs.StatFs()
	if err != nil {
		return errnoOf("statfs", err)
	}
	*out = gofuse.StatfsOut{Blocks: s.Blocks, Bfree: s.Bfree, Bavail: s.Bavail, Files: s.Files,
		Ffree: s.Ffree, Bsize: s.Bsize, NameLen: s.NameLen, Frsize: s.Bsize}
	return gofuse.OK
}
