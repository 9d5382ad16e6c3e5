package transaction

import (
	"fmt"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// CreateItems is the number of items a file create reserves, as the
// kernel's btrfs_create_common: inode item, inode ref, dir item, dir index,
// parent inode update.
const CreateItems = 5

// createFile inserts the items of an empty regular file ino named name in
// directory dir of tree root, in the kernel's order: INODE_ITEM and
// INODE_REF in one batch, the dir index reservation moved to the
// delayed-items reserve, DIR_ITEM, DIR_INDEX (kept in place of the
// kernel's delayed insertion), then the directory's size. It is the seed's
// workload (btrfs_create_new_inode + btrfs_add_link).
func createFile(h *Handle, root *ctree.Root, dir, ino, index uint64, name string) error {
	now := timespec(time.Now())
	transid := h.Transid()
	inode := format.InodeItem{Generation: transid, Transid: transid, Nlink: 1, Mode: 0o100644,
		Atime: now, Ctime: now, Mtime: now, Otime: now}
	ref := format.InodeRefItem{{Index: index, Name: []byte(name)}}
	keys := []format.Key{{ObjectID: ino, Type: format.InodeItemKey}, {ObjectID: ino, Type: format.InodeRefKey, Offset: dir}}
	if err := ctree.InsertItems(h, root, keys, [][]byte{inode.Encode(), ref.Encode()}); err != nil {
		return fmt.Errorf("create %q: inode: %w", name, err)
	}
	if err := h.MigrateDelayedItem(); err != nil {
		return fmt.Errorf("create %q: %w", name, err)
	}
	entry := format.DirItem{{Location: format.Key{ObjectID: ino, Type: format.InodeItemKey},
		Transid: transid, Type: format.FtRegFile, Name: []byte(name)}}
	if err := ctree.InsertItem(h, root, format.Key{ObjectID: dir, Type: format.DirItemKey, Offset: format.NameHash([]byte(name))}, entry.Encode()); err != nil {
		return fmt.Errorf("create %q: dir item: %w", name, err)
	}
	if err := ctree.InsertItem(h, root, format.Key{ObjectID: dir, Type: format.DirIndexKey, Offset: index}, entry.Encode()); err != nil {
		return fmt.Errorf("create %q: dir index: %w", name, err)
	}
	return updateItem(h, root, format.Key{ObjectID: dir, Type: format.InodeItemKey}, func(b []byte) ([]byte, error) {
		d, err := format.DecodeInodeItem(b)
		if err != nil {
			return nil, err
		}
		d.Size += 2 * uint64(len(name))
		d.Transid, d.Ctime, d.Mtime = transid, now, now
		return d.Encode(), nil
	})
}

func timespec(t time.Time) format.Timespec {
	return format.Timespec{Sec: uint64(t.Unix()), Nsec: uint32(t.Nanosecond())}
}
