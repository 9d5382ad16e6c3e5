package fs

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// linkMax is the kernel's BTRFS_LINK_MAX.
const linkMax = 65535

// Link adds name in dir for inode ino (a hard link): 5 items.
func (fs *FS) Link(ino, dir uint64, name string) (Attr, error) {
	if err := fs.writable("link", dir); err != nil {
		return Attr{}, err
	}
	if err := checkName("link", dir, name); err != nil {
		return Attr{}, err
	}
	if isDot(name) {
		return Attr{}, opError("link", dir, name, syscall.EEXIST, "")
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	if _, err := fs.dirInode("link", dir); err != nil {
		return Attr{}, err
	}
	ii, err := fs.readInode(ino)
	if err != nil {
		return Attr{}, err
	}
	switch {
	case isDir(ii.Mode):
		return Attr{}, opError("link", ino, "", syscall.EPERM, "hard link to a directory")
	case ii.Nlink == 0:
		return Attr{}, opError("link", ino, "", syscall.ENOENT, "inode has no names left")
	case ii.Nlink >= linkMax:
		return Attr{}, opError("link", ino, "", syscall.EMLINK, "")
	}
	if _, _, found, err := fs.findEntry(dir, name); err != nil || found {
		if err == nil {
			err = opError("link", dir, name, syscall.EEXIST, "")
		}
		return Attr{}, err
	}
	index, err := fs.nextIndex(dir)
	if err != nil {
		return Attr{}, err
	}
	err = fs.run("link", ino, linkItems, func(h handle) error {
		now := time.Now()
		if err := fs.addLink(h, dir, name, ino, format.FileTypeOf(ii.Mode), index, now); err != nil {
			return err
		}
		ii, err = fs.updateInode(h, ino, func(ii *format.InodeItem) {
			ii.Nlink++
			ii.Ctime = timespec(now)
		})
		return err
	})
	if err != nil {
		return Attr{}, err
	}
	return fs.overlay(ino, fs.attrOf(ino, ii)), nil
}

// Unlink removes name, which must not be a directory, from dir: 5 items,
// plus, when it was the inode's last name, an ORPHAN_ITEM (the inode is
// open) or the items to delete the inode and its data at once.
func (fs *FS) Unlink(dir uint64, name string) error {
	return fs.remove("unlink", dir, name, false)
}

// Rmdir removes the empty directory name from dir (ENOTEMPTY otherwise).
func (fs *FS) Rmdir(dir uint64, name string) error {
	switch name {
	case ".":
		return opError("rmdir", dir, name, syscall.EINVAL, "")
	case "..":
		return opError("rmdir", dir, name, syscall.ENOTEMPTY, "")
	}
	return fs.remove("rmdir", dir, name, true)
}

func (fs *FS) remove(op string, dir uint64, name string, wantDir bool) error {
	if err := fs.writable(op, dir); err != nil {
		return err
	}
	if err := checkName(op, dir, name); err != nil {
		return err
	}
	if isDot(name) {
		return opError(op, dir, name, syscall.EISDIR, "")
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	if _, err := fs.dirInode(op, dir); err != nil {
		return err
	}
	e, err := fs.lookupEntry(op, dir, name)
	if err != nil {
		return err
	}
	isdir := e.typ == format.FtDir
	switch {
	case wantDir && !isdir:
		return opError(op, dir, name, syscall.ENOTDIR, "")
	case !wantDir && isdir:
		return opError(op, dir, name, syscall.EISDIR, "")
	}
	if isdir {
		if err := fs.checkEmpty(op, e.ino); err != nil {
			return err
		}
	}
	v, err := fs.prepareDrop(e.ino)
	if err != nil {
		return err
	}
	defer v.done()
	err = fs.run(op, dir, unlinkItems+v.items, func(h handle) error {
		return fs.dropName(h, dir, e, v, time.Now())
	})
	if err != nil {
		return err
	}
	return v.finish()
}

// lookupEntry finds name in dir: ENOENT when it is not there, EOPNOTSUPP
// for another subvolume (cowfs works in subvolume 5 only).
func (fs *FS) lookupEntry(op string, dir uint64, name string) (entry, error) {
	e, loc, found, err := fs.findEntry(dir, name)
	switch {
	case err != nil:
		return entry{}, err
	case !found:
		return entry{}, opError(op, dir, name, syscall.ENOENT, "")
	case loc == format.RootItemKey:
		return entry{}, opError(op, dir, name, syscall.EOPNOTSUPP, fmt.Sprintf("subvolume %d (cowfs serves subvolume 5 only)", e.ino))
	}
	return e, nil
}

// checkEmpty fails with ENOTEMPTY when directory ino has entries.
func (fs *FS) checkEmpty(op string, ino uint64) error {
	it := fs.root.Scan(format.Key{ObjectID: ino, Type: format.DirItemKey},
		format.Key{ObjectID: ino, Type: format.DirIndexKey + 1})
	if it.Next() {
		return opError(op, ino, "", syscall.ENOTEMPTY, "")
	}
	return it.Err()
}

// victim is an inode that may lose its last name in the next handle: its
// state locked, and what the handle must reserve for it.
type victim struct {
	fs    *FS
	in    *inode
	last  bool       // this name is its last one
	open  bool       // open: keep it as an orphan
	items int        // items to reserve beyond the name's
	steps []dropStep // too many extents for one handle: truncate in these steps first
}

// prepareDrop locks inode ino's state and works out what removing one of
// its names involves. REQUIRES: fs.ns held for writing. done unlocks.
func (fs *FS) prepareDrop(ino uint64) (*victim, error) {
	in := fs.pin(ino)
	in.mu.Lock()
	v := &victim{fs: fs, in: in}
	ii, err := fs.readInode(ino)
	if err != nil {
		v.done()
		return nil, err
	}
	v.last = isDir(ii.Mode) || ii.Nlink <= 1
	if !v.last {
		return v, nil
	}
	if v.open = fs.isOpen(ino); v.open {
		v.items = orphanItems
		return v, nil
	}
	plan, err := fs.evictPlan(ino)
	if err != nil {
		v.done()
		return nil, err
	}
	if v.steps = plan.steps; len(v.steps) > 0 {
		v.items = orphanItems // deleted after the name's handle: evictLarge
	} else {
		v.items = plan.items
	}
	return v, nil
}

func (v *victim) done() {
	v.in.mu.Unlock()
	v.fs.unpin(v.in)
}

// dropName removes name e from dir and one link of its inode; the last one
// makes it an orphan (open) or deletes it.
func (fs *FS) dropName(h handle, dir uint64, e entry, v *victim, now time.Time) error {
	if _, err := fs.removeLink(h, dir, e.name, e.ino, now); err != nil {
		return err
	}
	_, err := fs.updateInode(h, e.ino, func(ii *format.InodeItem) {
		if v.last {
			ii.Nlink = 0
		} else {
			ii.Nlink--
		}
		ii.Ctime = timespec(now)
	})
	if err != nil || !v.last {
		return err
	}
	if v.open || len(v.steps) > 0 {
		v.in.orphan = v.open
		return ctree.InsertItem(h, fs.root, orphanKey(e.ino), nil)
	}
	return fs.dropInode(h, v.in, false)
}

// finish deletes, after the name's handle, a victim with too many extents
// for one handle. REQUIRES: fs.ns for writing (v holds the inode lock).
func (v *victim) finish() error {
	if !v.last || v.open || len(v.steps) == 0 {
		return nil
	}
	return v.fs.evictLarge(v.in, v.steps)
}

func orphanKey(ino uint64) format.Key {
	return format.Key{ObjectID: format.OrphanObjectID, Type: format.OrphanItemKey, Offset: ino}
}

// evictPlan is what deleting an inode involves.
type evictPlan struct {
	items int        // to reserve for a deletion in one handle
	steps []dropStep // when that is too much: truncate in these steps first (dropSteps)
}

// evictPlan counts what deleting inode ino reserves: one item per run of
// deleted items (about a leaf's worth of file extents, or of other items;
// its names are gone by then). The data extents' references and checksums
// go at commit, through delayed references, whose handle reserves the
// checksum deletions as it drops the references. An inode with more file
// extents, or checksums, than a handle may drop (fs.evictChunk,
// fs.evictCsum) is truncated in steps first (truncate.go).
func (fs *FS) evictPlan(ino uint64) (evictPlan, error) {
	items, err := fs.scan(format.Key{ObjectID: ino}, format.Key{ObjectID: ino + 1})
	if err != nil {
		return evictPlan{}, err
	}
	others := 0
	for _, it := range items {
		switch it.Key.Type {
		case format.ExtentDataKey, format.InodeRefKey, format.InodeExtrefKey:
		default:
			others++
		}
	}
	steps, last, err := fs.dropPlan(ino, 0)
	if err != nil {
		return evictPlan{}, err
	}
	return evictPlan{items: 2 + others/64 + len(last.exts)/32, steps: steps}, nil
}

// evictLarge deletes an inode (nlink 0, with an orphan item) with many
// extents: truncated in steps, a handle each, then deleted.
// REQUIRES: fs.ns for writing, in.mu.
func (fs *FS) evictLarge(in *inode, steps []dropStep) error {
	ii, err := fs.readInode(in.ino)
	if err != nil {
		return err
	}
	if err := fs.dropSteps(in.ino, steps, ii.Flags&format.InodeNoDataSum != 0); err != nil {
		return err
	}
	return fs.evictLocked(in, true)
}

// dropInode deletes inode in: its file data (through the data layer),
// every other item it has, and its orphan item when orphan is set.
// REQUIRES: fs.ns for writing, in.mu.
func (fs *FS) dropInode(h handle, in *inode, orphan bool) error {
	if err := fs.data.DropAll(h, in.ino); err != nil {
		return fmt.Errorf("drop the data of inode %d: %w", in.ino, err)
	}
	// What is left: INODE_ITEM, xattrs, inline extents (symlinks).
	items, err := fs.scan(format.Key{ObjectID: in.ino}, format.Key{ObjectID: in.ino + 1})
	if err != nil {
		return err
	}
	keys := make([]format.Key, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	if err := ctree.DeleteKeys(h, fs.root, keys); err != nil {
		return fmt.Errorf("delete inode %d: %w", in.ino, err)
	}
	if orphan {
		if err := ctree.DeleteItem(h, fs.root, orphanKey(in.ino)); err != nil && !errors.Is(err, ctree.ErrNotFound) {
			return fmt.Errorf("orphan item of inode %d: %w", in.ino, err)
		}
	}
	fs.discard(in)
	delete(fs.dirIndex, in.ino)
	fs.ninodes.add(-1)
	return nil
}

// evictLocked deletes an orphan (or an inode with nlink 0) in a handle of
// its own. REQUIRES: fs.ns for writing, in.mu.
func (fs *FS) evictLocked(in *inode, orphan bool) error {
	p, err := fs.evictPlan(in.ino)
	if err != nil {
		return err
	}
	if len(p.steps) > 0 {
		return fs.evictLarge(in, p.steps)
	}
	return fs.run("evict", in.ino, p.items+orphanItems, func(h handle) error {
		return fs.dropInode(h, in, orphan)
	})
}
