package treelog

import (
	"bytes"
	"fmt"
	"syscall"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// replayInode is the first pass, for an INODE_ITEM: a directory's logged
// index ranges drop the names the log does not hold; xattrs the log does
// not hold go; the item replaces the subvolume's; a regular file loses
// the extents past its logged size (the kernel truncates it there).
func (r *replayer) replayInode(it ctree.Item) error {
	if it.Key.Type != format.InodeItemKey {
		return nil
	}
	ino := it.Key.ObjectID
	inode, err := format.DecodeInodeItem(it.Data)
	if err != nil {
		return err
	}
	r.touched[ino] = true
	if inode.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		if err := r.replayDirDeletes(ino); err != nil {
			return err
		}
	}
	if err := r.replayXattrDeletes(ino); err != nil {
		return err
	}
	if err := r.edit(func(h *transaction.Handle) error { return r.put(h, it.Key, it.Data) }); err != nil {
		return err
	}
	if inode.Mode&syscall.S_IFMT == syscall.S_IFREG {
		ss := uint64(r.fs.SectorSize())
		return r.dropExtents(ino, (inode.Size+ss-1)/ss*ss, ^uint64(0))
	}
	return nil
}

// replayXattrDeletes deletes the xattrs of ino that the log does not hold.
func (r *replayer) replayXattrDeletes(ino uint64) error {
	have, err := scan(r.sub, ino, format.XattrItemKey)
	if err != nil {
		return err
	}
	logged := map[format.Key][]byte{}
	for _, it := range r.logItems(ino, format.XattrItemKey) {
		logged[it.Key] = it.Data
	}
	for _, it := range have {
		if d, ok := logged[it.Key]; ok && sameNames(d, it.Data) {
			continue
		}
		if err := r.edit(func(h *transaction.Handle) error { return r.del(h, it.Key) }); err != nil {
			return err
		}
	}
	return nil
}

// sameNames: two XATTR_ITEMs hold the same names (the log's replaces the
// subvolume's whole, so names are what decides a deletion).
func sameNames(a, b []byte) bool {
	ea, err1 := format.DecodeDirItem(a)
	eb, err2 := format.DecodeDirItem(b)
	if err1 != nil || err2 != nil || len(ea) != len(eb) {
		return false
	}
	for i := range ea {
		if !bytes.Equal(ea[i].Name, eb[i].Name) {
			return false
		}
	}
	return true
}

// readInode reads the subvolume's inode item of ino.
func (r *replayer) readInode(ino uint64) (*format.InodeItem, bool, error) {
	d, ok, err := r.lookup(inodeKey(ino))
	if !ok || err != nil {
		return nil, ok, err
	}
	in, err := format.DecodeInodeItem(d)
	if err != nil {
		return nil, false, fmt.Errorf("subvolume %d: inode %d: %w", r.id, ino, err)
	}
	return in, true, nil
}

func inodeKey(ino uint64) format.Key {
	return format.Key{ObjectID: ino, Type: format.InodeItemKey}
}
