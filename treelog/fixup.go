package treelog

import (
	"fmt"
	"syscall"

	"cowfs/disk/format"
	"cowfs/transaction"
)

// fixup sets, for every inode the replay touched, what the log does not
// carry exactly (the kernel's fixup_inode_link_counts and its size and
// nbytes bookkeeping): the link count from its references (an inode left
// with none gets an orphan item, and the open's orphan cleanup deletes
// it), a directory's size from its index entries, a file's nbytes from
// its extents.
func (r *replayer) fixup() error {
	for ino := range r.touched {
		if err := r.fixInode(ino); err != nil {
			return fmt.Errorf("inode %d: %w", ino, err)
		}
	}
	return nil
}

func (r *replayer) fixInode(ino uint64) error {
	in, ok, err := r.readInode(ino)
	if !ok || err != nil {
		return err
	}
	links, err := r.subRefs(ino)
	if err != nil {
		return err
	}
	in.Nlink = uint32(len(links))
	if in.Mode&syscall.S_IFMT == syscall.S_IFDIR && in.Nlink > 0 {
		in.Nlink = 1
		in.Size, err = r.dirSize(ino)
	} else {
		in.Nbytes, err = r.nbytes(ino)
	}
	if err != nil {
		return err
	}
	return r.edit(func(h *transaction.Handle) error {
		if err := r.put(h, inodeKey(ino), in.Encode()); err != nil || in.Nlink > 0 {
			return err
		}
		return r.put(h, format.Key{ObjectID: format.OrphanObjectID, Type: format.OrphanItemKey, Offset: ino}, nil)
	})
}

// dirSize: twice the length of every name, as btrfs counts a directory.
func (r *replayer) dirSize(dir uint64) (uint64, error) {
	items, err := scan(r.sub, dir, format.DirIndexKey)
	var n uint64
	for _, it := range items {
		e, err := oneEntry(it)
		if err != nil {
			return 0, err
		}
		n += 2 * uint64(len(e.Name))
	}
	return n, err
}

// nbytes: the bytes of file the extents account for (inline: their data,
// regular and prealloc: what they cover; holes nothing).
func (r *replayer) nbytes(ino uint64) (uint64, error) {
	items, err := scan(r.sub, ino, format.ExtentDataKey)
	var n uint64
	for _, it := range items {
		fe, err := format.DecodeFileExtent(it.Data)
		if err != nil {
			return 0, err
		}
		switch {
		case fe.Type == format.FileExtentInline:
			n += fe.RAMBytes
		case fe.DiskBytenr != 0:
			n += fe.NumBytes
		}
	}
	return n, err
}
