package tests

// Namespace operations of the transaction workload, item for item as the
// kernel does them (btrfs-format.md §1.3, §2.7):
//
//   - create/mkdir: INODE_ITEM + INODE_REF {index, name} (one batch),
//     DIR_ITEM keyed by the name hash (packed on a collision), DIR_INDEX
//     from 2 up; the parent's size grows by 2 × name length, its nlink
//     stays 1; the new inode's nlink is 1.
//   - unlink: the three names go, the parent shrinks, the inode gets
//     nlink 0 and an ORPHAN_ITEM; eviction follows (txn_evict_test.go).
//   - subvolume: see createSubvol.

import (
	"fmt"
	"path"

	"cowfs/disk/format"
)

// create makes a regular file (or a directory) in dir.
func (w *txnWorker) create(dir *txnInode, isDir bool) error {
	ino, err := w.newIno(dir.tree)
	if err != nil {
		return err
	}
	prefix, mode, ft := "f", uint32(modeFile), format.FtRegFile
	if isDir {
		prefix, mode, ft = "d", modeDir, format.FtDir
	}
	name, err := newEntryName(w.rng, prefix, fileNames(dir), func(s string) bool { return dir.dir.names[s] })
	if err != nil {
		return err
	}
	t := w.h.Transid()
	idx := dir.dir.nextIndex
	dir.dir.nextIndex++
	if err := w.insert(dir.tree, []format.Key{inodeKey(ino), inodeRefKey(ino, dir.ino)},
		[][]byte{newInode(t, mode), inodeRef(idx, name)}); err != nil {
		return err
	}
	in := &txnInode{tree: dir.tree, ino: ino, parent: dir, name: name, index: idx}
	if err := w.link(dir, in, format.Key{ObjectID: ino, Type: format.InodeItemKey}, ft); err != nil {
		return err
	}
	if isDir {
		in.dir = newTxnDir(path.Join(dir.dir.path, name))
		w.addDir(in)
		return nil
	}
	dir.dir.files = append(dir.dir.files, in)
	w.load.files++
	return nil
}

// link adds in's DIR_ITEM and DIR_INDEX to dir, pointing at loc, and
// grows dir. The DIR_INDEX is a delayed item in the kernel: its
// reservation moves from the handle to the delayed-items reserve
// (btrfs_insert_delayed_dir_index), and so it does here.
func (w *txnWorker) link(dir, in *txnInode, loc format.Key, ft uint8) error {
	t := w.h.Transid()
	e := dirEntry(loc, t, ft, in.name)
	if err := w.addEntry(dir.tree, dirItemKey(dir.ino, in.name), e); err != nil {
		return err
	}
	if err := w.h.MigrateDelayedItem(); err != nil {
		return err
	}
	if err := w.insert1(dir.tree, dirIndexKey(dir.ino, in.index), format.DirItem{e}.Encode()); err != nil {
		return err
	}
	dir.dir.names[in.name] = true
	return w.updateInode(dir.tree, dir.ino, func(ii *format.InodeItem) {
		ii.Size += 2 * uint64(len(in.name))
		ii.Mtime = txnTime(t)
		touch(t)(ii)
	})
}

// fileNames lists the names of dir's files (collision targets).
func fileNames(dir *txnInode) []string {
	names := make([]string, len(dir.dir.files))
	for i, f := range dir.dir.files {
		names[i] = f.name
	}
	return names
}

// unlink removes f's name and leaves it orphaned for evictPending.
func (w *txnWorker) unlink(f *txnInode) error {
	dir, t := f.parent, w.h.Transid()
	if err := w.removeEntry(dir.tree, dirItemKey(dir.ino, f.name), f.name); err != nil {
		return err
	}
	if err := w.h.MigrateDelayedItem(); err != nil { // btrfs_delete_delayed_dir_index
		return err
	}
	if err := w.del(dir.tree, dirIndexKey(dir.ino, f.index)); err != nil {
		return err
	}
	if err := w.del(f.tree, inodeRefKey(f.ino, dir.ino)); err != nil {
		return err
	}
	err := w.updateInode(dir.tree, dir.ino, func(ii *format.InodeItem) {
		ii.Size -= 2 * uint64(len(f.name))
		ii.Mtime = txnTime(t)
		touch(t)(ii)
	})
	if err != nil {
		return err
	}
	if err := w.updateInode(f.tree, f.ino, func(ii *format.InodeItem) { ii.Nlink = 0; touch(t)(ii) }); err != nil {
		return err
	}
	if err := w.insert1(f.tree, orphanKey(f.ino), []byte{}); err != nil {
		return err
	}
	dir.dir.removeFile(f)
	w.load.files--
	w.load.xattrBytes -= w.xattrBytesOf(f)
	w.evict = append(w.evict, f)
	return nil
}

// xattrBytesOf is what f's xattr items hold.
func (w *txnWorker) xattrBytesOf(f *txnInode) int {
	n := 0
	for _, k := range w.m.keysOf(f.tree, f.ino) {
		if k.Type == format.XattrItemKey {
			d, _ := w.m.get(f.tree, k)
			n += len(d)
		}
	}
	return n
}

// createSubvol creates a subvolume in parent (a directory of tree 5) as
// `btrfs subvolume create` does; the layout was checked against a
// kernel-made subvolume (dump-tree of a cowfs mkfs image after
// `btrfs subvolume create` on a loop mount):
//
//	root tree: (id ROOT_ITEM 0)             written by the commit (CreateTree)
//	           (5 ROOT_REF id)              {dirid = parent, sequence = index, name}
//	           (id ROOT_BACKREF 5)          the same payload
//	tree id:   (256 INODE_ITEM 0)           directory, nlink 1, size 0
//	           (256 INODE_REF 256)          {0, ".."}
//	tree 5:    (parent DIR_ITEM hash), (parent DIR_INDEX index)
//	                                        location (id ROOT_ITEM 0), type DIR
//	           parent size += 2 × name length, nlink unchanged
//
// (btrfs-format.md §2.5 gives the location offset as 2^64−1; the kernel
// writes 0 there, and 2^64−1 only in the ROOT_TREE_DIR "default" entry.)
func (w *txnWorker) createSubvol(parent *txnInode) error {
	id := w.ns.newSubvolID()
	name := fmt.Sprintf("sv%d-%s", id, randomName(w.rng, ""))
	if _, err := w.fs.CreateTree(w.h, id); err != nil {
		return err
	}
	t := w.h.Transid()
	if err := w.insert(id, []format.Key{inodeKey(format.FirstFreeObjectID), inodeRefKey(format.FirstFreeObjectID, format.FirstFreeObjectID)},
		[][]byte{newInode(t, modeDir), inodeRef(0, "..")}); err != nil {
		return err
	}
	idx := parent.dir.nextIndex
	parent.dir.nextIndex++
	sv := &txnInode{tree: id, ino: format.FirstFreeObjectID, parent: parent, name: name, index: idx,
		dir: newTxnDir(path.Join(parent.dir.path, name))}
	if err := w.link(parent, sv, subvolLocation(id), format.FtDir); err != nil {
		return err
	}
	ref := (&format.RootRef{DirID: parent.ino, Sequence: idx, Name: []byte(name)}).Encode()
	if err := w.insert1(format.RootTreeObjectID, rootRefKey(id), ref); err != nil {
		return err
	}
	if err := w.insert1(format.RootTreeObjectID, rootBackrefKey(id), ref); err != nil {
		return err
	}
	w.ns.addSubvol(id)
	sv.parent = nil // the subvolume's root: its path is fixed in sv.dir
	w.addDir(sv)
	return nil
}
