package fs

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cowfs/disk/format"
)

// inode is the in-memory state of an inode that is open, has buffered
// data, or is being worked on. It exists while pinned (fs.pin) or open or
// holding buffered bytes; fs.imu guards the map and the pins, mu the
// rest. An open inode with no other state has only its count in fs.opens
// (the FUSE adapter holds every inode the kernel caches open).
type inode struct {
	ino uint64

	// REQUIRES: fs.imu.
	pins int

	// mu serializes the operations on the inode's data and size: writes,
	// flushes, truncation, fallocate, eviction; reads share it. Taken
	// after fs.ns, before any handle; the BeforeCommit hook only try-locks
	// it.
	mu sync.RWMutex
	// REQUIRES: mu.
	loaded   bool
	mode     uint32
	flags    uint64
	size     uint64 // i_size as the files see it (buffered writes included)
	diskSize uint64 // i_size in the INODE_ITEM
	orphan   bool   // nlink 0 while open: evicted at the last release
	gone     bool   // evicted: nothing may be written for it any more
	buf      dirtyRanges
	rsv      need      // this inode's share of dataRsv and metaRsv: what flushing buf needs
	mtime    time.Time // when set: mtime/ctime of buffered writes, not yet in the item

	buffered atomic.Int64 // bytes in buf (read without mu by unpin)
}

// pin returns the inode's state, creating it, and keeps it in the map
// until unpin.
func (fs *FS) pin(ino uint64) *inode {
	fs.imu.Lock()
	defer fs.imu.Unlock()
	in := fs.inodes[ino]
	if in == nil {
		in = &inode{ino: ino}
		fs.inodes[ino] = in
	}
	in.pins++
	return in
}

// unpin drops a pin; an inode neither pinned nor open nor holding
// buffered bytes leaves the map.
func (fs *FS) unpin(in *inode) {
	fs.imu.Lock()
	defer fs.imu.Unlock()
	in.pins--
	fs.maybeForgetLocked(in)
}

// maybeForgetLocked removes an unused inode from the map. REQUIRES: imu.
func (fs *FS) maybeForgetLocked(in *inode) {
	if in.pins == 0 && fs.opens[in.ino] == 0 && in.buffered.Load() == 0 && fs.inodes[in.ino] == in {
		delete(fs.inodes, in.ino)
	}
}

// lookupState returns the inode's state if it has one, pinned.
func (fs *FS) lookupState(ino uint64) *inode {
	fs.imu.Lock()
	defer fs.imu.Unlock()
	in := fs.inodes[ino]
	if in != nil {
		in.pins++
	}
	return in
}

// isOpen reports whether the adapter holds the inode open.
func (fs *FS) isOpen(ino uint64) bool {
	fs.imu.Lock()
	defer fs.imu.Unlock()
	return fs.opens[ino] > 0
}

// load fills the state from the INODE_ITEM once. REQUIRES: in.mu.
func (fs *FS) load(in *inode) error {
	if in.gone {
		return opError("use", in.ino, "", syscall.ENOENT, "inode was deleted")
	}
	if in.loaded {
		return nil
	}
	ii, err := fs.readInode(in.ino)
	if err != nil {
		return err
	}
	in.loaded = true
	in.mode, in.flags, in.size, in.diskSize = ii.Mode, ii.Flags, ii.Size, ii.Size
	return nil
}

func (in *inode) nodatasum() bool { return in.flags&format.InodeNoDataSum != 0 }

// OpenFile records that the adapter opened inode ino (a file or a
// directory handle). An inode whose last name is removed while it is open
// stays, with nlink 0 and an ORPHAN_ITEM, until the matching ReleaseFile.
func (fs *FS) OpenFile(ino uint64) error {
	if _, err := fs.readInode(ino); err != nil {
		return err
	}
	fs.imu.Lock()
	defer fs.imu.Unlock()
	fs.opens[ino]++
	return nil
}

// ReleaseFile undoes one OpenFile. At the last release of an inode whose
// names are all gone, the inode is deleted: its items, its data extents
// and its orphan item.
func (fs *FS) ReleaseFile(ino uint64) error {
	fs.imu.Lock()
	n := fs.opens[ino]
	if n == 0 {
		fs.imu.Unlock()
		return opError("release", ino, "", syscall.EBADF, "not open")
	}
	if n--; n > 0 {
		fs.opens[ino] = n
		fs.imu.Unlock()
		return nil
	}
	delete(fs.opens, ino)
	in := fs.inodes[ino] // an orphan keeps its state while open
	if in == nil {
		fs.imu.Unlock()
		return nil
	}
	in.pins++
	fs.imu.Unlock()
	defer fs.unpin(in)
	return fs.releaseLast(in)
}

// releaseLast evicts an orphan at its last release.
func (fs *FS) releaseLast(in *inode) error {
	fs.ns.Lock()
	defer fs.ns.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.orphan || in.gone || fs.isOpen(in.ino) {
		return nil
	}
	return fs.evictLocked(in, true)
}
