package fs

import (
	"syscall"
	"time"

	"cowfs/disk/format"
)

// Rename flags (renameat2).
const (
	RenameNoReplace = 1 // fail with EEXIST when the target exists
	RenameExchange  = 2 // swap source and target, which must both exist
)

// Rename moves oldname in olddir to newname in newdir, in one handle of
// 11 items (plus the items to delete a replaced target that loses its last
// name). A directory moved to another parent gets its INODE_REF there:
// btrfs keeps a directory's parent ("..") only in that item.
func (fs *FS) Rename(olddir uint64, oldname string, newdir uint64, newname string, flags uint32) error {
	const op = "rename"
	if err := fs.writable(op, olddir); err != nil {
		return err
	}
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return opError(op, olddir, oldname, syscall.EINVAL, "bad flags")
	}
	for _, n := range []struct {
		dir  uint64
		name string
	}{{olddir, oldname}, {newdir, newname}} {
		if err := checkName(op, n.dir, n.name); err != nil {
			return err
		}
		if isDot(n.name) {
			return opError(op, n.dir, n.name, syscall.EINVAL, "")
		}
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	r, err := fs.planRename(olddir, oldname, newdir, newname, flags)
	if err != nil || r == nil {
		return err
	}
	if r.victim != nil {
		defer r.victim.done()
	}
	err = fs.run(op, olddir, renameItems+r.items(), func(h handle) error {
		return fs.doRename(h, r, time.Now())
	})
	if err != nil || r.victim == nil {
		return err
	}
	return r.victim.finish()
}

// renamePlan is a checked rename.
type renamePlan struct {
	olddir, newdir   uint64
	newname          string
	src, dst         entry
	exists, exchange bool
	newIndex         uint64  // of src in newdir
	oldIndex         uint64  // of dst in olddir (exchange)
	victim           *victim // a replaced dst
}

func (r *renamePlan) items() int {
	if r.victim == nil {
		return 0
	}
	return r.victim.items
}

// planRename checks a rename (nil, nil: nothing to do). REQUIRES: fs.ns
// for writing.
func (fs *FS) planRename(olddir uint64, oldname string, newdir uint64, newname string, flags uint32) (*renamePlan, error) {
	const op = "rename"
	for _, d := range []uint64{olddir, newdir} {
		if _, err := fs.dirInode(op, d); err != nil {
			return nil, err
		}
	}
	r := &renamePlan{olddir: olddir, newdir: newdir, newname: newname, exchange: flags&RenameExchange != 0}
	var err error
	if r.src, err = fs.renameEntry(olddir, oldname, true); err != nil {
		return nil, err
	}
	if r.dst, err = fs.renameEntry(newdir, newname, r.exchange); err != nil {
		return nil, err
	}
	r.exists = r.dst.ino != 0
	switch {
	case r.exists && flags&RenameNoReplace != 0:
		return nil, opError(op, newdir, newname, syscall.EEXIST, "")
	case r.exists && r.dst.ino == r.src.ino:
		return nil, nil // two names of one inode: POSIX says do nothing
	}
	if err := fs.checkRenameTypes(r); err != nil {
		return nil, err
	}
	if r.newIndex, err = fs.nextIndex(newdir); err != nil {
		return nil, err
	}
	if r.exchange {
		r.oldIndex, err = fs.nextIndex(olddir)
		return r, err
	}
	if r.exists {
		r.victim, err = fs.prepareDrop(r.dst.ino)
	}
	return r, err
}

// renameEntry finds a rename's source or target: ENOENT when it must exist
// and does not (a zero entry when it need not), EXDEV for a subvolume.
func (fs *FS) renameEntry(dir uint64, name string, must bool) (entry, error) {
	e, loc, found, err := fs.findEntry(dir, name)
	switch {
	case err != nil:
		return entry{}, err
	case !found && must:
		return entry{}, opError("rename", dir, name, syscall.ENOENT, "")
	case !found:
		return entry{}, nil
	case loc == format.RootItemKey:
		return entry{}, opError("rename", dir, name, syscall.EXDEV, "a subvolume (cowfs serves subvolume 5 only)")
	}
	return e, nil
}

// checkRenameTypes: a directory replaces only an empty directory, a
// non-directory only a non-directory, and no directory moves below itself.
func (fs *FS) checkRenameTypes(r *renamePlan) error {
	const op = "rename"
	srcDir, dstDir := r.src.typ == format.FtDir, r.exists && r.dst.typ == format.FtDir
	if r.exists && !r.exchange {
		switch {
		case srcDir && !dstDir:
			return opError(op, r.newdir, r.dst.name, syscall.ENOTDIR, "")
		case !srcDir && dstDir:
			return opError(op, r.newdir, r.dst.name, syscall.EISDIR, "")
		case dstDir:
			if err := fs.checkEmpty(op, r.dst.ino); err != nil {
				return err
			}
		}
	}
	if r.olddir == r.newdir {
		return nil
	}
	if srcDir {
		if below, err := fs.isAncestor(r.src.ino, r.newdir); err != nil || below {
			if err == nil {
				err = opError(op, r.olddir, r.src.name, syscall.EINVAL, "a directory cannot move below itself")
			}
			return err
		}
	}
	if r.exchange && dstDir {
		if below, err := fs.isAncestor(r.dst.ino, r.olddir); err != nil || below {
			if err == nil {
				err = opError(op, r.newdir, r.dst.name, syscall.EINVAL, "a directory cannot move below itself")
			}
			return err
		}
	}
	return nil
}

// isAncestor reports whether directory a is d or above it.
func (fs *FS) isAncestor(a, d uint64) (bool, error) {
	for depth := 0; depth < 1<<20; depth++ {
		if d == a {
			return true, nil
		}
		if d == RootIno {
			return false, nil
		}
		p, err := fs.parentOf(d)
		if err != nil {
			return false, err
		}
		d = p
	}
	return false, opError("rename", d, "", syscall.ELOOP, "directory parents form a loop")
}

// doRename changes the items of a checked rename.
func (fs *FS) doRename(h handle, r *renamePlan, now time.Time) error {
	if r.exchange {
		return fs.doExchange(h, r, now)
	}
	if r.exists {
		if err := fs.dropName(h, r.newdir, r.dst, r.victim, now); err != nil {
			return err
		}
	}
	return fs.moveName(h, r.olddir, r.src, r.newdir, r.newname, r.newIndex, now)
}

// moveName moves e from dir to name in newdir at index and sets the
// inode's ctime.
func (fs *FS) moveName(h handle, dir uint64, e entry, newdir uint64, name string, index uint64, now time.Time) error {
	if _, err := fs.removeLink(h, dir, e.name, e.ino, now); err != nil {
		return err
	}
	if err := fs.addLink(h, newdir, name, e.ino, e.typ, index, now); err != nil {
		return err
	}
	_, err := fs.updateInode(h, e.ino, func(ii *format.InodeItem) { ii.Ctime = timespec(now) })
	return err
}

// doExchange swaps the inodes behind two names.
func (fs *FS) doExchange(h handle, r *renamePlan, now time.Time) error {
	if _, err := fs.removeLink(h, r.newdir, r.dst.name, r.dst.ino, now); err != nil {
		return err
	}
	if err := fs.moveName(h, r.olddir, r.src, r.newdir, r.dst.name, r.newIndex, now); err != nil {
		return err
	}
	if err := fs.addLink(h, r.olddir, r.src.name, r.dst.ino, r.dst.typ, r.oldIndex, now); err != nil {
		return err
	}
	_, err := fs.updateInode(h, r.dst.ino, func(ii *format.InodeItem) { ii.Ctime = timespec(now) })
	return err
}
