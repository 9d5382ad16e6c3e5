package fs

import (
	"errors"
	"fmt"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// Item helpers: every change of the fs tree goes through these, inside a
// handle. An edit of an item's bytes happens while the search holds the
// leaf write-locked, so two edits of one item never lose each other.

func inodeKey(ino uint64) format.Key { return format.Key{ObjectID: ino, Type: format.InodeItemKey} }

func timespec(t time.Time) format.Timespec {
	return format.Timespec{Sec: uint64(t.Unix()), Nsec: uint32(t.Nanosecond())}
}

func timeOf(ts format.Timespec) time.Time { return time.Unix(int64(ts.Sec), int64(ts.Nsec)) }

// readInode returns the INODE_ITEM of ino (ENOENT when there is none).
func (fs *FS) readInode(ino uint64) (*format.InodeItem, error) {
	b, err := ctree.Lookup(fs.root, inodeKey(ino))
	if err != nil {
		return nil, wrap("read", ino, err)
	}
	ii, err := format.DecodeInodeItem(b)
	if err != nil {
		return nil, wrap("read", ino, err)
	}
	return ii, nil
}

// updateInode rewrites the INODE_ITEM of ino in place: edit changes the
// decoded item, then transid and sequence (the kernel's i_version) advance.
// It returns the item as written.
func (fs *FS) updateInode(h *transaction.Handle, ino uint64, edit func(*format.InodeItem)) (*format.InodeItem, error) {
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(h, fs.root, inodeKey(ino), &p, 0, true)
	if err != nil {
		return nil, wrap("update", ino, err)
	}
	if !found {
		return nil, wrap("update", ino, fmt.Errorf("%w: %v", ctree.ErrNotFound, inodeKey(ino)))
	}
	ii, err := format.DecodeInodeItem(p.ItemData())
	if err != nil {
		return nil, wrap("update", ino, err)
	}
	edit(ii)
	ii.Transid = h.Transid()
	ii.Sequence++
	copy(p.ItemData(), ii.Encode())
	return ii, nil
}

// appendEntry inserts an item holding entry, or appends entry to the item
// already at key (names whose hashes collide share an item).
func (fs *FS) appendEntry(h *transaction.Handle, key format.Key, entry []byte) error {
	err := ctree.InsertItem(h, fs.root, key, entry)
	if !errors.Is(err, ctree.ErrExists) {
		return err
	}
	var p ctree.Path
	defer p.Release()
	if err := ctree.ExtendItem(h, fs.root, &p, key, uint32(len(entry))); err != nil {
		return err
	}
	d := p.ItemData()
	copy(d[len(d)-len(entry):], entry)
	return nil
}

// setItem replaces the data of the item at key, oldSize bytes long, with
// data: deleting the item when data is empty, shrinking or growing it
// otherwise.
func (fs *FS) setItem(h *transaction.Handle, key format.Key, oldSize int, data []byte) error {
	if len(data) == 0 {
		return ctree.DeleteItem(h, fs.root, key)
	}
	var p ctree.Path
	defer p.Release()
	var err error
	switch {
	case len(data) < oldSize:
		err = ctree.TruncateItem(h, fs.root, &p, key, uint32(len(data)))
	case len(data) > oldSize:
		err = ctree.ExtendItem(h, fs.root, &p, key, uint32(len(data)-oldSize))
	default:
		var found bool
		found, err = ctree.SearchSlot(h, fs.root, key, &p, 0, true)
		if err == nil && !found {
			err = fmt.Errorf("%w: %v", ctree.ErrNotFound, key)
		}
	}
	if err != nil {
		return err
	}
	copy(p.ItemData(), data)
	return nil
}

// scan returns copies of the items with start <= key < end.
func (fs *FS) scan(start, end format.Key) ([]ctree.Item, error) {
	var out []ctree.Item
	it := fs.root.Scan(start, end)
	for it.Next() {
		out = append(out, it.Item())
	}
	return out, it.Err()
}

// itemCount is how many items a deletion of keys may touch, in the
// reservation's units: one per run of at most a leaf's worth of items.
func itemCount(keys []format.Key) int {
	return 1 + len(keys)/64
}
