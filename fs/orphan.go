package fs

import (
	"errors"
	"fmt"
	"syscall"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// cleanOrphans deletes what an interrupted session left (as the kernel's
// orphan cleanup at mount): every inode named by an ORPHAN_ITEM
// (ORPHAN_OBJECTID, ORPHAN_ITEM, ino) that has nlink 0 is deleted with its
// data and the orphan item; the orphan item of an inode that still has
// names (the kernel's mark of an unfinished truncate) or none at all is
// deleted alone.
func (fs *FS) cleanOrphans() error {
	items, err := fs.scan(format.Key{ObjectID: format.OrphanObjectID, Type: format.OrphanItemKey},
		format.Key{ObjectID: format.OrphanObjectID, Type: format.OrphanItemKey + 1})
	if err != nil {
		return err
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	for _, it := range items {
		if err := fs.cleanOrphan(it.Key.Offset); err != nil {
			return err
		}
	}
	return nil
}

func (fs *FS) cleanOrphan(ino uint64) error {
	ii, err := fs.readInode(ino)
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return err
	}
	if err != nil {
		return fs.run("orphan cleanup", ino, orphanItems, func(h handle) error {
			return ctree.DeleteItem(h, fs.root, orphanKey(ino))
		})
	}
	in := fs.pin(ino)
	defer fs.unpin(in)
	in.mu.Lock()
	defer in.mu.Unlock()
	if ii.Nlink > 0 {
		return fs.finishTruncate(ino, ii)
	}
	if err := fs.evictLocked(in, true); err != nil {
		return fmt.Errorf("orphan inode %d: %w", ino, err)
	}
	return nil
}
