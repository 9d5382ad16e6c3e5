package fs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// Names. A name of inode ino in directory dir is three items that agree on
// name, index and type (btrfs-format.md §2.7):
//
//	(ino, INODE_REF, dir)            {index, name}   (or INODE_EXTREF when the ref item is full)
//	(dir, DIR_ITEM, name_hash(name)) {location (ino, INODE_ITEM, 0), transid, type, name}
//	(dir, DIR_INDEX, index)          the same entry
//
// and the directory's size counts the name twice. Indexes grow from 2 in
// each directory and are never reused while the filesystem is open.

// checkName validates a name for an operation that creates or removes it.
func checkName(op string, dir uint64, name string) error {
	switch {
	case name == "":
		return opError(op, dir, name, syscall.ENOENT, "empty name")
	case len(name) > format.NameMax:
		return opError(op, dir, name, syscall.ENAMETOOLONG, fmt.Sprintf("%d bytes, at most %d", len(name), format.NameMax))
	case strings.ContainsAny(name, "/\x00"):
		return opError(op, dir, name, syscall.EINVAL, "name contains '/' or NUL")
	}
	return nil
}

func isDot(name string) bool { return name == "." || name == ".." }

func isDir(mode uint32) bool { return mode&syscall.S_IFMT == syscall.S_IFDIR }

// dirInode reads the INODE_ITEM of a directory: ENOTDIR when ino is
// something else, ENOENT when it does not exist or was removed (still
// open, nlink 0: nothing may be created in it, as the VFS's dead
// directories).
func (fs *FS) dirInode(op string, dir uint64) (*format.InodeItem, error) {
	ii, err := fs.readInode(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case !isDir(ii.Mode):
		return nil, opError(op, dir, "", syscall.ENOTDIR, "")
	case ii.Nlink == 0:
		return nil, opError(op, dir, "", syscall.ENOENT, "directory was removed")
	}
	return ii, nil
}

func dirItemKey(dir uint64, name string) format.Key {
	return format.Key{ObjectID: dir, Type: format.DirItemKey, Offset: format.NameHash([]byte(name))}
}

func dirIndexKey(dir, index uint64) format.Key {
	return format.Key{ObjectID: dir, Type: format.DirIndexKey, Offset: index}
}

// entry is a name found in a directory.
type entry struct {
	name  string
	ino   uint64 // the inode, or the subvolume id for a subvolume
	typ   uint8
	index uint64 // from the INODE_REF (0 until looked up)
}

// findEntry looks name up in the DIR_ITEM of dir. The location's type is
// returned to tell inodes (INODE_ITEM) from subvolumes (ROOT_ITEM).
func (fs *FS) findEntry(dir uint64, name string) (e entry, locType uint8, found bool, err error) {
	b, err := ctree.Lookup(fs.root, dirItemKey(dir, name))
	if errors.Is(err, ctree.ErrNotFound) {
		return entry{}, 0, false, nil
	}
	if err != nil {
		return entry{}, 0, false, err
	}
	di, err := format.DecodeDirItem(b)
	if err != nil {
		return entry{}, 0, false, wrap("lookup", dir, err)
	}
	for _, d := range di {
		if string(d.Name) == name {
			return entry{name: name, ino: d.Location.ObjectID, typ: d.Type}, d.Location.Type, true, nil
		}
	}
	return entry{}, 0, false, nil
}

// nextIndex hands out the next DIR_INDEX of dir, initialised from the
// largest existing one. REQUIRES: fs.ns held for writing.
func (fs *FS) nextIndex(dir uint64) (uint64, error) {
	idx, ok := fs.dirIndex[dir]
	if !ok {
		last, err := fs.lastIndex(dir)
		if err != nil {
			return 0, err
		}
		idx = max(2, last+1)
	}
	fs.dirIndex[dir] = idx + 1
	return idx, nil
}

// lastIndex is the largest DIR_INDEX of dir (0 when it has none).
func (fs *FS) lastIndex(dir uint64) (uint64, error) {
	var p ctree.Path
	defer p.Release()
	key := format.Key{ObjectID: dir, Type: format.DirIndexKey, Offset: ^uint64(0)}
	if _, err := ctree.SearchSlot(nil, fs.root, key, &p, 0, false); err != nil {
		return 0, err
	}
	var k format.Key
	if p.Slot(0) == 0 {
		ok, err := ctree.PrevLeaf(fs.root, &p)
		if err != nil || !ok {
			return 0, err
		}
		k = p.ItemKey()
	} else {
		k = p.Leaf().ItemKey(p.Slot(0) - 1)
	}
	if k.ObjectID != dir || k.Type != format.DirIndexKey {
		return 0, nil
	}
	return k.Offset, nil
}

// parentOf is the parent directory of directory ino (its one INODE_REF;
// the root directory is its own parent).
func (fs *FS) parentOf(ino uint64) (uint64, error) {
	it := fs.root.Scan(format.Key{ObjectID: ino, Type: format.InodeRefKey},
		format.Key{ObjectID: ino, Type: format.InodeRefKey + 1})
	if it.Next() {
		return it.Item().Key.Offset, nil
	}
	if err := it.Err(); err != nil {
		return 0, err
	}
	return 0, opError("parent", ino, "", syscall.ENOENT, "no INODE_REF")
}

// Parent returns the parent of directory dir (the root's parent is the
// root), for the adapter's "..".
func (fs *FS) Parent(dir uint64) (uint64, error) {
	fs.ns.RLock()
	defer fs.ns.RUnlock()
	if _, err := fs.dirInode("parent", dir); err != nil {
		return 0, err
	}
	return fs.parentOf(dir)
}

// addLink adds name → ino (type typ) in dir at index: INODE_REF (or
// INODE_EXTREF), DIR_ITEM, DIR_INDEX, and the directory's size and times.
func (fs *FS) addLink(h *transaction.Handle, dir uint64, name string, ino uint64, typ uint8, index uint64, now time.Time) error {
	if err := fs.addRef(h, ino, dir, index, name); err != nil {
		return err
	}
	return fs.addDirEntries(h, dir, name, ino, typ, index, now)
}

// addDirEntries inserts the DIR_ITEM and DIR_INDEX of a name and updates
// the directory, moving the index's reservation to the delayed-items
// reserve first, as the kernel's btrfs_insert_delayed_dir_index does.
func (fs *FS) addDirEntries(h *transaction.Handle, dir uint64, name string, ino uint64, typ uint8, index uint64, now time.Time) error {
	if err := h.MigrateDelayedItem(); err != nil {
		return err
	}
	e := format.DirItem{{Location: inodeKey(ino), Transid: h.Transid(), Type: typ, Name: []byte(name)}}.Encode()
	if err := fs.appendEntry(h, dirItemKey(dir, name), e); err != nil {
		return fmt.Errorf("dir item %q in %d: %w", name, dir, err)
	}
	if err := ctree.InsertItem(h, fs.root, dirIndexKey(dir, index), e); err != nil {
		return fmt.Errorf("dir index %d in %d: %w", index, dir, err)
	}
	return fs.touchDir(h, dir, int64(2*len(name)), now)
}

// touchDir changes a directory's size by delta and sets mtime and ctime.
func (fs *FS) touchDir(h *transaction.Handle, dir uint64, delta int64, now time.Time) error {
	_, err := fs.updateInode(h, dir, func(ii *format.InodeItem) {
		ii.Size = uint64(int64(ii.Size) + delta)
		ii.Mtime, ii.Ctime = timespec(now), timespec(now)
	})
	return err
}

// addRef records the name in the inode: appended to its INODE_REF item for
// dir, or, when that item would no longer fit a leaf, in an INODE_EXTREF
// (the image has EXTENDED_IREF, as every image cowfs opens read-write).
func (fs *FS) addRef(h *transaction.Handle, ino, dir, index uint64, name string) error {
	refKey := format.Key{ObjectID: ino, Type: format.InodeRefKey, Offset: dir}
	e := format.InodeRefItem{{Index: index, Name: []byte(name)}}.Encode()
	old, err := ctree.Lookup(fs.root, refKey)
	if err != nil && !errors.Is(err, ctree.ErrNotFound) {
		return err
	}
	if len(old)+len(e) <= int(format.MaxItemSize(fs.nodeSize)) {
		return fs.appendEntry(h, refKey, e)
	}
	xkey := format.Key{ObjectID: ino, Type: format.InodeExtrefKey, Offset: format.ExtrefHash(dir, []byte(name))}
	xe := format.InodeExtrefItem{{Parent: dir, Index: index, Name: []byte(name)}}.Encode()
	return fs.appendEntry(h, xkey, xe)
}

// removeRef removes the name from the inode's INODE_REF (or INODE_EXTREF)
// and returns its index.
func (fs *FS) removeRef(h *transaction.Handle, ino, dir uint64, name string) (uint64, error) {
	refKey := format.Key{ObjectID: ino, Type: format.InodeRefKey, Offset: dir}
	b, err := ctree.Lookup(fs.root, refKey)
	if err == nil {
		refs, err := format.DecodeInodeRefs(b)
		if err != nil {
			return 0, err
		}
		for i, r := range refs {
			if string(r.Name) == name {
				rest := append(refs[:i:i], refs[i+1:]...)
				return r.Index, fs.setItem(h, refKey, len(b), encodeRefs(rest))
			}
		}
	} else if !errors.Is(err, ctree.ErrNotFound) {
		return 0, err
	}
	xkey := format.Key{ObjectID: ino, Type: format.InodeExtrefKey, Offset: format.ExtrefHash(dir, []byte(name))}
	b, err = ctree.Lookup(fs.root, xkey)
	if err != nil {
		return 0, fmt.Errorf("%w: inode %d has no ref for %q in %d: %w", format.ErrCorrupt, ino, name, dir, err)
	}
	xrefs, err := format.DecodeInodeExtrefs(b)
	if err != nil {
		return 0, err
	}
	for i, r := range xrefs {
		if r.Parent == dir && string(r.Name) == name {
			rest := append(xrefs[:i:i], xrefs[i+1:]...)
			var data []byte
			if len(rest) > 0 {
				data = rest.Encode()
			}
			return r.Index, fs.setItem(h, xkey, len(b), data)
		}
	}
	return 0, fmt.Errorf("%w: inode %d has no ref for %q in %d", format.ErrCorrupt, ino, name, dir)
}

func encodeRefs(refs format.InodeRefItem) []byte {
	if len(refs) == 0 {
		return nil
	}
	return refs.Encode()
}

// removeLink removes name (→ ino) from dir: the ref, DIR_ITEM and
// DIR_INDEX entries, and the directory's size; it returns the index.
func (fs *FS) removeLink(h *transaction.Handle, dir uint64, name string, ino uint64, now time.Time) (uint64, error) {
	index, err := fs.removeRef(h, ino, dir, name)
	if err != nil {
		return 0, err
	}
	if err := fs.removeDirEntries(h, dir, name, index, now); err != nil {
		return 0, err
	}
	return index, nil
}

// removeDirEntries removes the DIR_ITEM entry and the DIR_INDEX of a name
// and updates the directory.
func (fs *FS) removeDirEntries(h *transaction.Handle, dir uint64, name string, index uint64, now time.Time) error {
	key := dirItemKey(dir, name)
	b, err := ctree.Lookup(fs.root, key)
	if err != nil {
		return fmt.Errorf("dir item %q in %d: %w", name, dir, err)
	}
	di, err := format.DecodeDirItem(b)
	if err != nil {
		return err
	}
	var rest format.DirItem
	for _, d := range di {
		if !bytes.Equal(d.Name, []byte(name)) {
			rest = append(rest, d)
		}
	}
	var data []byte
	if len(rest) > 0 {
		data = rest.Encode()
	}
	if err := fs.setItem(h, key, len(b), data); err != nil {
		return fmt.Errorf("dir item %q in %d: %w", name, dir, err)
	}
	if err := ctree.DeleteItem(h, fs.root, dirIndexKey(dir, index)); err != nil {
		return fmt.Errorf("dir index %d of %q in %d: %w", index, name, dir, err)
	}
	return fs.touchDir(h, dir, -int64(2*len(name)), now)
}
