package fs

import (
	"sync"

	"cowfs/disk/format"
)

// StatFs is what statfs returns.
type StatFs struct {
	Bsize   uint32 // the sector size; also the fragment size
	Blocks  uint64 // data space: the DATA block groups plus unallocated device space
	Bfree   uint64 // of which free
	Bavail  uint64 // = Bfree (no reserved blocks)
	Files   uint64 // inodes in use + Ffree
	Ffree   uint64 // inode numbers left
	NameLen uint32 // 255
}

// StatFs reports space from the allocator's DATA space_info and the
// unallocated device space (which new DATA chunks would come from), and
// inodes from the count of INODE_ITEMs (counted at the first call, kept up
// to date after).
func (fs *FS) StatFs() (StatFs, error) {
	// An unreadable fs-tree leaf makes the inode count unknown; the space
	// figures do not depend on it, so df keeps working (files = free).
	used, err := fs.inodesInUse()
	if err != nil {
		used = 0
	}
	a := fs.t.Alloc()
	si := a.Space(format.BlockGroupData)
	un := a.UnallocatedBytes()
	bs := fs.sectorSize
	st := StatFs{Bsize: uint32(bs), NameLen: format.NameMax,
		Blocks: (si.Total + un) / bs, Bfree: (si.Free() + un) / bs}
	st.Bavail = st.Bfree
	st.Ffree = format.LastFreeObjectID - fs.nextIno.Load() + 1
	st.Files = used + st.Ffree
	return st, nil
}

// inodeCount is the number of INODE_ITEMs in the fs tree.
type inodeCount struct {
	mu      sync.Mutex
	counted bool
	n       int64
}

func (c *inodeCount) add(d int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
}

// inodesInUse counts the INODE_ITEMs once (holding the namespace lock, so
// no inode comes or goes meanwhile); creates and evictions keep the count.
func (fs *FS) inodesInUse() (uint64, error) {
	c := &fs.ninodes
	c.mu.Lock()
	counted, n := c.counted, c.n
	c.mu.Unlock()
	if counted {
		return uint64(n), nil
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	var total int64
	it := fs.root.ScanFrom(format.Key{ObjectID: format.FirstFreeObjectID})
	for it.Next() {
		if k := it.Item().Key; k.Type == format.InodeItemKey && k.ObjectID <= format.LastFreeObjectID {
			total++
		}
	}
	if err := it.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.counted {
		c.counted, c.n = true, total
	}
	return uint64(c.n), nil
}
