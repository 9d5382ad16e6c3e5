package fs

import (
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// Truncation in steps. Dropping the file extents past a new size costs one
// reserved item per leaf of them; an inode with more than fs.evictChunk
// extents to drop would need a reservation that grows with the file, so it
// is truncated as the kernel's btrfs_truncate does: the INODE_ITEM gets
// the new size and an ORPHAN_ITEM in one handle (the extents past i_size
// are invisible from then on), handles of their own drop fs.evictChunk
// extents each from the end, and the last handle drops the rest and the
// orphan item. A crash in between leaves the orphan item; the next
// read-write Open finishes the truncation (cleanOrphan).

// extentCuts lists the file offsets at which to truncate ino, from the
// end, so that each step drops at most fs.evictChunk of its extents at or
// past from; the last step (to from) is the caller's. It also returns how
// many extents lie at or past from.
func (fs *FS) extentCuts(ino, from uint64) ([]uint64, int, error) {
	items, err := fs.scan(format.Key{ObjectID: ino, Type: format.ExtentDataKey, Offset: from},
		format.Key{ObjectID: ino, Type: format.ExtentDataKey + 1})
	if err != nil {
		return nil, 0, err
	}
	var cuts []uint64
	for i := len(items) - fs.evictChunk; i > 0; i -= fs.evictChunk {
		cuts = append(cuts, items[i].Key.Offset)
	}
	return cuts, len(items), nil
}

// dropItems is what a handle dropping n file extents reserves: a leaf of
// deletions per 32, and the rewrite of a partial last sector.
func (fs *FS) dropItems(n int) int {
	return fs.data.WriteItems(int(fs.sectorSize)) + 2 + min(n, fs.evictChunk)/32
}

// dropSteps drops the extents past each cut (descending), a handle each,
// adding the nbytes change to the INODE_ITEM. REQUIRES: in.mu (and fs.ns
// when the inode has no names).
func (fs *FS) dropSteps(ino uint64, cuts []uint64, nodatasum bool) error {
	for _, cut := range cuts {
		err := fs.run("truncate", ino, fs.dropItems(fs.evictChunk), func(h handle) error {
			// From "infinity": extents past i_size (fallocate KEEP_SIZE) go too.
			delta, err := fs.data.Truncate(h, ino, MaxFileSize, cut, nodatasum)
			if err != nil {
				return err
			}
			_, err = fs.updateInode(h, ino, func(ii *format.InodeItem) {
				ii.Nbytes = uint64(int64(ii.Nbytes) + delta)
			})
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// startTruncate sets the new size and an orphan item in one handle, then
// drops the extents past cuts. REQUIRES: st.mu, st flushed.
func (fs *FS) startTruncate(st *inode, size uint64, cuts []uint64) error {
	err := fs.run("truncate", st.ino, setattrItems+orphanItems, func(h handle) error {
		now := timespec(time.Now())
		if _, err := fs.updateInode(h, st.ino, func(ii *format.InodeItem) {
			ii.Size, ii.Mtime, ii.Ctime = size, now, now
		}); err != nil {
			return err
		}
		return ctree.InsertItem(h, fs.root, orphanKey(st.ino), nil)
	})
	if err != nil {
		return err
	}
	st.size, st.diskSize = size, size
	return fs.dropSteps(st.ino, cuts, st.nodatasum())
}

// finishTruncate completes the truncation an orphan item marks on an
// inode that still has names (left by a crash): the extents past i_size
// go, then the orphan item. REQUIRES: fs.ns, in.mu.
func (fs *FS) finishTruncate(ino uint64, ii *format.InodeItem) error {
	nodatasum := ii.Flags&format.InodeNoDataSum != 0
	cuts, n, err := fs.extentCuts(ino, alignUp(ii.Size, fs.sectorSize))
	if err != nil {
		return err
	}
	if err := fs.dropSteps(ino, cuts, nodatasum); err != nil {
		return err
	}
	return fs.run("orphan cleanup", ino, fs.dropItems(n)+orphanItems, func(h handle) error {
		delta, err := fs.data.Truncate(h, ino, MaxFileSize, ii.Size, nodatasum)
		if err != nil {
			return err
		}
		if _, err := fs.updateInode(h, ino, func(ii *format.InodeItem) {
			ii.Nbytes = uint64(int64(ii.Nbytes) + delta)
		}); err != nil {
			return err
		}
		return ctree.DeleteItem(h, fs.root, orphanKey(ino))
	})
}
