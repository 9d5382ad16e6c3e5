package fuse

import (
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"cowfs/fs"
)

func (r *raw) OpenDir(_ <-chan struct{}, in *gofuse.OpenIn, _ *gofuse.OpenOut) (st gofuse.Status) {
	defer recovered("opendir", &st)
	_, err := r.fs.GetAttr(r.ino(in.NodeId))
	return errnoOf("opendir", err)
}

func (r *raw) ReleaseDir(_ *gofuse.ReleaseIn) {}

// Directory offsets: "." is 0, ".." is 1, an entry's offset is its
// DIR_INDEX (2 and up); each entry carries the offset of the next one.
func (r *raw) ReadDir(_ <-chan struct{}, in *gofuse.ReadIn, out *gofuse.DirEntryList) (st gofuse.Status) {
	defer recovered("readdir", &st)
	return r.readDir(in, false, func(e gofuse.DirEntry, _ *fs.Attr) bool { return out.AddDirEntry(e) })
}

func (r *raw) ReadDirPlus(_ <-chan struct{}, in *gofuse.ReadIn, out *gofuse.DirEntryList) (st gofuse.Status) {
	defer recovered("readdirplus", &st)
	return r.readDir(in, true, func(e gofuse.DirEntry, a *fs.Attr) bool {
		eo := out.AddDirLookupEntry(e)
		if eo == nil {
			return false
		}
		if a != nil {
			if err := r.remember(a.Ino); err != nil {
				return false
			}
			r.fillEntry(*a, eo)
		}
		return true
	})
}

// entryAttr returns the attributes readdirplus sends with an entry, or nil:
// for plain readdir, for a subvolume, and for an inode that cannot be read
// (a damaged leaf must not hide the rest of the directory; the kernel looks
// the entry up itself and gets the error then).
func (r *raw) entryAttr(e fs.DirEntry, plus bool) *fs.Attr {
	if !plus || e.Subvol {
		return nil
	}
	a, err := r.fs.GetAttr(e.Ino)
	if err != nil {
		return nil
	}
	return &a
}

func (r *raw) readDir(in *gofuse.ReadIn, plus bool, add func(gofuse.DirEntry, *fs.Attr) bool) gofuse.Status {
	dir := r.ino(in.NodeId)
	off := in.Offset
	if off == 0 {
		if !add(gofuse.DirEntry{Name: ".", Ino: dir, Mode: fuseDirMode, Off: 1}, nil) {
			return gofuse.OK
		}
		off = 1
	}
	if off == 1 {
		parent, err := r.fs.Parent(dir)
		if err != nil {
			return errnoOf("readdir", err)
		}
		if !add(gofuse.DirEntry{Name: "..", Ino: parent, Mode: fuseDirMode, Off: 2}, nil) {
			return gofuse.OK
		}
		off = 2
	}
	err := r.fs.ReadDir(dir, off, func(e fs.DirEntry) bool {
		return add(gofuse.DirEntry{Name: e.Name, Ino: e.Ino, Mode: e.Mode, Off: e.Offset + 1}, r.entryAttr(e, plus))
	})
	return errnoOf("readdir", err)
}

const fuseDirMode = 0o040000

func (r *raw) FsyncDir(_ <-chan struct{}, in *gofuse.FsyncIn) (st gofuse.Status) {
	defer recovered("fsyncdir", &st)
	return errnoOf("fsyncdir", r.fs.Fsync(r.ino(in.NodeId)))
}
