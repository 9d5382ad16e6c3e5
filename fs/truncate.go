package fs

import (
	"math"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/fs/data"
)

// Truncation in steps. Dropping file extents costs a reserved item per
// leaf of them, and the handle that drops a data extent's last reference
// reserves the deletion of its checksums (transaction.FS.CsumDeleteSize:
// 2.2 MiB for a 128 MiB extent with 16 KiB nodes), so a handle dropping a
// large file's extents would reserve without bound. It is truncated as the
// kernel's btrfs_truncate does, in bounded steps: the INODE_ITEM gets the
// new size and an ORPHAN_ITEM in one handle (the extents past i_size are
// invisible from then on), handles of their own drop at most
// fs.evictChunk extents and fs.evictCsum bytes of checksum deletions each
// from the end, and the last handle drops the rest and the orphan item. A
// crash in between leaves the orphan item; the next read-write Open
// finishes the truncation (cleanOrphan).

// dropStep is one handle's share of a drop: the file extents from cut on
// (up to the previous step's cut), as ExtentCosts lists them.
type dropStep struct {
	cut  uint64
	exts []data.ExtentCost
}

// dropPlan splits the file extents of ino at or past from into steps from
// the end, each of at most fs.evictChunk extents and fs.evictCsum bytes of
// checksum deletions (at least one extent): steps truncate at their cut,
// descending; last is the rest, which the caller drops (to from) with
// whatever else its handle does.
func (fs *FS) dropPlan(ino, from uint64) (steps []dropStep, last dropStep, err error) {
	exts, err := fs.data.ExtentCosts(ino, from, math.MaxUint64)
	if err != nil {
		return nil, dropStep{}, err
	}
	end, csum := len(exts), uint64(0)
	for i := len(exts) - 1; i >= 0; i-- {
		if !fs.stepFits(end-i, csum+exts[i].Csum) {
			steps = append(steps, dropStep{cut: exts[i+1].Off, exts: exts[i+1 : end]})
			end, csum = i+1, 0
		}
		csum += exts[i].Csum
	}
	return steps, dropStep{cut: from, exts: exts[:end]}, nil
}

// stepFits reports whether n extents freeing csum bytes of checksum
// deletions fit one handle (one extent always does).
func (fs *FS) stepFits(n int, csum uint64) bool {
	return n == 1 || (n <= fs.evictChunk && csum <= fs.evictCsum)
}

// dropItems is what a handle dropping exts reserves: a leaf of deletions
// per 32, the rewrite of two partial sectors and the inode.
func (fs *FS) dropItems(exts []data.ExtentCost) int {
	return fs.data.WriteItems(2*int(fs.sectorSize)) + 2 + len(exts)/32
}

// dropSteps drops the extents of each step (descending cuts), a handle
// each, adding the nbytes change to the INODE_ITEM. REQUIRES: in.mu (and
// fs.ns when the inode has no names).
func (fs *FS) dropSteps(ino uint64, steps []dropStep, nodatasum bool) error {
	for _, s := range steps {
		err := fs.run("truncate", ino, fs.dropItems(s.exts), func(h handle) error {
			// From "infinity": extents past i_size (fallocate KEEP_SIZE) go too.
			delta, err := fs.data.Truncate(h, ino, MaxFileSize, s.cut, nodatasum)
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
// drops the extents of steps. REQUIRES: st.mu, st flushed.
func (fs *FS) startTruncate(st *inode, size uint64, steps []dropStep) error {
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
	return fs.dropSteps(st.ino, steps, st.nodatasum())
}

// finishTruncate completes the truncation an orphan item marks on an
// inode that still has names (left by a crash): the extents past i_size
// go, then the orphan item. REQUIRES: fs.ns, in.mu.
func (fs *FS) finishTruncate(ino uint64, ii *format.InodeItem) error {
	nodatasum := ii.Flags&format.InodeNoDataSum != 0
	steps, last, err := fs.dropPlan(ino, alignUp(ii.Size, fs.sectorSize))
	if err != nil {
		return err
	}
	if err := fs.dropSteps(ino, steps, nodatasum); err != nil {
		return err
	}
	return fs.run("orphan cleanup", ino, fs.dropItems(last.exts)+orphanItems, func(h handle) error {
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
