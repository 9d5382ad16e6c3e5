package treelog

import (
	"bytes"
	"fmt"
	"slices"

	"cowfs/disk/format"
	"cowfs/transaction"
)

// name is one link: a name in directory dir at index idx, to inode ino.
type name struct {
	dir, ino, idx uint64
	name          []byte
	ftype         uint8
}

// addName inserts the link's DIR_ITEM entry, DIR_INDEX and INODE_REF, as
// the kernel's btrfs_add_link.
func (r *replayer) addName(n name) error {
	if err := r.edit(func(h *transaction.Handle) error { return r.addDirEntries(h, n) }); err != nil {
		return err
	}
	return r.edit(func(h *transaction.Handle) error { return r.addRef(h, n) })
}

func (r *replayer) addDirEntries(h *transaction.Handle, n name) error {
	e := format.DirEntry{Location: inodeKey(n.ino), Transid: h.Transid(), Type: n.ftype, Name: n.name}
	k := format.Key{ObjectID: n.dir, Type: format.DirItemKey, Offset: format.NameHash(n.name)}
	entries, _, err := decoded(r, k, format.DecodeDirItem)
	if err != nil {
		return err
	}
	if err := r.put(h, k, append(entries, e).Encode()); err != nil {
		return err
	}
	return r.put(h, format.Key{ObjectID: n.dir, Type: format.DirIndexKey, Offset: n.idx}, format.DirItem{e}.Encode())
}

func (r *replayer) addRef(h *transaction.Handle, n name) error {
	r.touched[n.ino], r.touched[n.dir] = true, true
	k := format.Key{ObjectID: n.ino, Type: format.InodeRefKey, Offset: n.dir}
	refs, _, err := decoded(r, k, format.DecodeInodeRefs)
	if err != nil {
		return err
	}
	data := append(refs, format.InodeRef{Index: n.idx, Name: n.name}).Encode()
	if len(data) <= int(format.MaxItemSize(r.fs.NodeSize())) {
		return r.put(h, k, data)
	}
	return r.addExtref(h, n)
}

// addExtref records the link in an INODE_EXTREF item, where names go once
// the inode's INODE_REF for that directory is full (EXTENDED_IREF).
func (r *replayer) addExtref(h *transaction.Handle, n name) error {
	if r.fs.Super().IncompatFlags&format.IncompatExtendedIref == 0 {
		return fmt.Errorf("%w: inode %d: names in directory %d overflow INODE_REF and the filesystem has no EXTENDED_IREF",
			transaction.ErrUnsupported, n.ino, n.dir)
	}
	k := format.Key{ObjectID: n.ino, Type: format.InodeExtrefKey, Offset: format.ExtrefHash(n.dir, n.name)}
	refs, _, err := decoded(r, k, format.DecodeInodeExtrefs)
	if err != nil {
		return err
	}
	return r.put(h, k, append(refs, format.InodeExtref{Parent: n.dir, Index: n.idx, Name: n.name}).Encode())
}

// removeName deletes the link's DIR_INDEX, its DIR_ITEM entry and its
// INODE_REF or INODE_EXTREF entry, whichever exist; the link counts are
// fixed at the end of the replay.
func (r *replayer) removeName(n name) error {
	r.touched[n.ino], r.touched[n.dir] = true, true
	return r.edit(func(h *transaction.Handle) error {
		if err := r.del(h, format.Key{ObjectID: n.dir, Type: format.DirIndexKey, Offset: n.idx}); err != nil {
			return err
		}
		dk := format.Key{ObjectID: n.dir, Type: format.DirItemKey, Offset: format.NameHash(n.name)}
		if err := r.dropEntry(h, dk, n.name); err != nil {
			return err
		}
		if err := r.dropRef(h, format.Key{ObjectID: n.ino, Type: format.InodeRefKey, Offset: n.dir}, n.name); err != nil {
			return err
		}
		ek := format.Key{ObjectID: n.ino, Type: format.InodeExtrefKey, Offset: format.ExtrefHash(n.dir, n.name)}
		return r.dropExtref(h, ek, n.dir, n.name)
	})
}

// dropEntry removes the entry called nm from the DIR_ITEM k.
func (r *replayer) dropEntry(h *transaction.Handle, k format.Key, nm []byte) error {
	entries, ok, err := decoded(r, k, format.DecodeDirItem)
	if !ok || err != nil {
		return err
	}
	entries = slices.DeleteFunc(entries, func(e format.DirEntry) bool { return bytes.Equal(e.Name, nm) })
	return r.rewrite(h, k, len(entries), format.DirItem(entries).Encode())
}

func (r *replayer) dropRef(h *transaction.Handle, k format.Key, nm []byte) error {
	refs, ok, err := decoded(r, k, format.DecodeInodeRefs)
	if !ok || err != nil {
		return err
	}
	refs = slices.DeleteFunc(refs, func(e format.InodeRef) bool { return bytes.Equal(e.Name, nm) })
	return r.rewrite(h, k, len(refs), refs.Encode())
}

func (r *replayer) dropExtref(h *transaction.Handle, k format.Key, dir uint64, nm []byte) error {
	refs, ok, err := decoded(r, k, format.DecodeInodeExtrefs)
	if !ok || err != nil {
		return err
	}
	refs = slices.DeleteFunc(refs, func(e format.InodeExtref) bool { return e.Parent == dir && bytes.Equal(e.Name, nm) })
	return r.rewrite(h, k, len(refs), refs.Encode())
}

// rewrite puts data at k, or deletes k when no entry is left.
func (r *replayer) rewrite(h *transaction.Handle, k format.Key, entries int, data []byte) error {
	if entries == 0 {
		return r.del(h, k)
	}
	return r.put(h, k, data)
}

// linkOf finds the link called nm in directory dir (through its DIR_ITEM)
// and its index (through the target's reference).
func (r *replayer) linkOf(dir uint64, nm []byte) (name, bool, error) {
	d, ok, err := r.lookup(format.Key{ObjectID: dir, Type: format.DirItemKey, Offset: format.NameHash(nm)})
	if !ok || err != nil {
		return name{}, false, err
	}
	entries, err := format.DecodeDirItem(d)
	if err != nil {
		return name{}, false, err
	}
	for _, e := range entries {
		if bytes.Equal(e.Name, nm) {
			n := name{dir: dir, ino: e.Location.ObjectID, name: nm, ftype: e.Type}
			idx, _, err := r.refIndex(n)
			n.idx = idx
			return n, true, err
		}
	}
	return name{}, false, nil
}

// refIndex is the index the inode's reference gives the link.
func (r *replayer) refIndex(n name) (uint64, bool, error) {
	refs, err := r.subRefs(n.ino)
	for _, x := range refs {
		if x.dir == n.dir && bytes.Equal(x.name, n.name) {
			return x.idx, true, err
		}
	}
	return 0, false, err
}
