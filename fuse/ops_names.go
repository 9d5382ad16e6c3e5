package fuse

import (
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"cowfs/fs"
)

// creator is the caller of a request that creates an inode. The kernel
// leaves the umask to the daemon (FUSE_DONT_MASK), which applies it only
// where the directory has no default ACL.
func creator(h *gofuse.InHeader, umask uint32) fs.Creator {
	return fs.Creator{UID: h.Uid, GID: h.Gid, Umask: umask}
}

func (r *raw) Lookup(_ <-chan struct{}, h *gofuse.InHeader, name string, out *gofuse.EntryOut) (st gofuse.Status) {
	defer recovered("lookup", &st)
	a, err := r.fs.Lookup(r.ino(h.NodeId), name)
	return r.entry("lookup", a, err, out)
}

func (r *raw) Mknod(_ <-chan struct{}, in *gofuse.MknodIn, name string, out *gofuse.EntryOut) (st gofuse.Status) {
	defer recovered("mknod", &st)
	a, err := r.fs.Mknod(r.ino(in.NodeId), name, in.Mode, in.Rdev, creator(&in.InHeader, in.Umask))
	return r.entry("mknod", a, err, out)
}

func (r *raw) Mkdir(_ <-chan struct{}, in *gofuse.MkdirIn, name string, out *gofuse.EntryOut) (st gofuse.Status) {
	defer recovered("mkdir", &st)
	a, err := r.fs.Mkdir(r.ino(in.NodeId), name, in.Mode, creator(&in.InHeader, in.Umask))
	return r.entry("mkdir", a, err, out)
}

func (r *raw) Unlink(_ <-chan struct{}, h *gofuse.InHeader, name string) (st gofuse.Status) {
	defer recovered("unlink", &st)
	return errnoOf("unlink", r.fs.Unlink(r.ino(h.NodeId), name))
}

func (r *raw) Rmdir(_ <-chan struct{}, h *gofuse.InHeader, name string) (st gofuse.Status) {
	defer recovered("rmdir", &st)
	return errnoOf("rmdir", r.fs.Rmdir(r.ino(h.NodeId), name))
}

func (r *raw) Rename(_ <-chan struct{}, in *gofuse.RenameIn, oldName, newName string) (st gofuse.Status) {
	defer recovered("rename", &st)
	return errnoOf("rename", r.fs.Rename(r.ino(in.NodeId), oldName, r.ino(in.Newdir), newName, in.Flags))
}

func (r *raw) Link(_ <-chan struct{}, in *gofuse.LinkIn, name string, out *gofuse.EntryOut) (st gofuse.Status) {
	defer recovered("link", &st)
	a, err := r.fs.Link(r.ino(in.Oldnodeid), r.ino(in.NodeId), name)
	return r.entry("link", a, err, out)
}

func (r *raw) Symlink(_ <-chan struct{}, h *gofuse.InHeader, target, name string, out *gofuse.EntryOut) (st gofuse.Status) {
	defer recovered("symlink", &st)
	a, err := r.fs.Symlink(r.ino(h.NodeId), name, target, creator(h, 0))
	return r.entry("symlink", a, err, out)
}

func (r *raw) Readlink(_ <-chan struct{}, h *gofuse.InHeader) (out []byte, st gofuse.Status) {
	defer recovered("readlink", &st)
	target, err := r.fs.Readlink(r.ino(h.NodeId))
	if err != nil {
		return nil, errnoOf("readlink", err)
	}
	return []byte(target), gofuse.OK
}

func (r *raw) Create(_ <-chan struct{}, in *gofuse.CreateIn, name string, out *gofuse.CreateOut) (st gofuse.Status) {
	defer recovered("create", &st)
	a, err := r.fs.Create(r.ino(in.NodeId), name, in.Mode, creator(&in.InHeader, in.Umask))
	if st := r.entry("create", a, err, &out.EntryOut); st != gofuse.OK {
		return st
	}
	if err := r.fs.OpenFile(a.Ino); err != nil {
		return errnoOf("create", err)
	}
	out.Fh = r.nextFh.Add(1)
	return gofuse.OK
}

// Tmpfile (O_TMPFILE) is not offered.
func (r *raw) Tmpfile(_ <-chan struct{}, _ *gofuse.CreateIn, _ *gofuse.CreateOut) gofuse.Status {
	return notSupported()
}
