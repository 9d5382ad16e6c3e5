package fs

import (
	"errors"
	"fmt"
	"slices"
)

// Buffered writes (the kernel's delalloc, simplified). Write copies data
// into its inode's dirtyRanges and advances the in-memory i_size and
// mtime; nothing reaches the trees until a flush writes each contiguous
// run with one data-layer Write (so a large sequential write becomes large
// extents) and persists size, nbytes and times in the INODE_ITEM. Flushes
// happen on Fsync, Sync and Close, from the transaction's BeforeCommit
// hook (every commit, including the timer's), when the buffered bytes of
// all inodes pass Options.DirtyThreshold, and before SetAttr, Fallocate
// and a removal of the inode. Read merges the buffer over what the trees
// hold, so it never needs a flush.

// maxFlushRun bounds the bytes one handle writes (the kernel's largest
// data extent, BTRFS_MAX_EXTENT_SIZE).
const maxFlushRun = 128 << 20

// dirtyRange is buffered data at a file offset.
type dirtyRange struct {
	off  uint64
	data []byte
}

func (r *dirtyRange) end() uint64 { return r.off + uint64(len(r.data)) }

// dirtyRanges is sorted by offset; ranges neither overlap nor touch.
type dirtyRanges []dirtyRange

// bytes is the buffered total.
func (rs dirtyRanges) bytes() int64 {
	var n int64
	for _, r := range rs {
		n += int64(len(r.data))
	}
	return n
}

// insert buffers p at off, merging with every range it overlaps or
// touches; it returns the change of the buffered total. An append to the
// end of a range grows it in place: into the spare when it has one and
// the range is large (a sequential writer then copies nothing more), else
// doubling its capacity up to limit (the data buffer: a run is flushed
// before it passes that), not in append's 1.25× steps, which copy a
// streaming run ~5 times. spare may be nil.
func (rs *dirtyRanges) insert(off uint64, p []byte, limit int, spare *spareBuf) int64 {
	end := off + uint64(len(p))
	v := *rs
	i, j := v.touching(off, end)
	if i == j {
		*rs = slices.Insert(v, i, dirtyRange{off: off, data: append([]byte(nil), p...)})
		return int64(len(p))
	}
	before := dirtyRanges(v[i:j]).bytes()
	start, last := min(v[i].off, off), max(v[j-1].end(), end)
	var data []byte
	if v[i].off <= off {
		// The first range starts the merged one: grow it, then copy in
		// the ranges after it (writeback's WRITEs arrive out of order)
		// and p, which together cover the new tail.
		data = v[i].data
		if n := int(last - start); len(data) < n {
			if b := spare.take(data, n); b != nil {
				data = b
			} else {
				data = grow(data, n, limit)
			}
		}
		for _, r := range v[i+1 : j] {
			copy(data[r.off-start:], r.data)
		}
	} else {
		data = make([]byte, last-start)
		for _, r := range v[i:j] {
			copy(data[r.off-start:], r.data)
		}
	}
	copy(data[off-start:], p)
	v[i] = dirtyRange{off: start, data: data}
	*rs = slices.Delete(v, i+1, j)
	return int64(len(data)) - before
}

// grow returns data extended to n bytes (the new tail is overwritten by
// the caller), reallocated to twice its capacity, within [n, limit], when
// it has no room.
func grow(data []byte, n, limit int) []byte {
	if n <= cap(data) {
		return data[:n]
	}
	c := max(n, min(2*cap(data), limit))
	return append(make([]byte, 0, c), data...)[:n]
}

// touching returns the ranges [i, j) that [off, end) overlaps or touches
// (i == j: none; the new range goes at i).
func (rs dirtyRanges) touching(off, end uint64) (i, j int) {
	i, _ = slices.BinarySearchFunc(rs, off, func(r dirtyRange, off uint64) int {
		if r.end() < off {
			return -1
		}
		return 1
	})
	j = i
	for j < len(rs) && rs[j].off <= end {
		j++
	}
	return i, j
}

// overlay copies the buffered bytes inside [off, off+len(p)) into p.
func (rs dirtyRanges) overlay(p []byte, off uint64) {
	end := off + uint64(len(p))
	for _, r := range rs {
		if r.off >= end || r.end() <= off {
			continue
		}
		lo, hi := max(r.off, off), min(r.end(), end)
		copy(p[lo-off:hi-off], r.data[lo-r.off:hi-r.off])
	}
}

// flushLocked writes the inode's buffered data, one handle per run of at
// most maxFlushRun bytes, in offset order; after each, the INODE_ITEM gets
// the size up to the written end (never beyond the in-memory size), the
// nbytes change and the buffered writes' times. A run is dropped from the
// buffer only once written. REQUIRES: in.mu.
func (fs *FS) flushLocked(in *inode) error {
	for len(in.buf) > 0 {
		r := &in.buf[0]
		n := min(len(r.data), maxFlushRun)
		h, err := fs.startRun(in, r.off, n)
		if err != nil {
			return wrap("write", in.ino, err)
		}
		if err := fs.writeRun(h, in, r.off, r.data[:n]); err != nil {
			return err
		}
		fs.ranDataRun(in, r.off, n)
		fs.dirty.Add(-int64(n))
		in.buffered.Add(-int64(n))
		if n == len(r.data) {
			fs.spare.give(r.data, int(fs.opts.DirtyThreshold))
			in.buf = slices.Delete(in.buf, 0, 1)
		} else {
			r.off, r.data = r.off+uint64(n), r.data[n:]
		}
	}
	in.mtime = timeZero
	fs.dropRsv(in) // nothing left to flush: whatever a failed run left over goes back
	return nil
}

// flushAll flushes every inode holding buffered data; with try, inodes
// whose lock is taken are skipped (the BeforeCommit hook, which may run in
// a goroutine holding one).
func (fs *FS) flushAll(try bool) error {
	fs.imu.Lock()
	var dirty []*inode
	for _, in := range fs.inodes {
		if in.buffered.Load() > 0 {
			in.pins++
			dirty = append(dirty, in)
		}
	}
	fs.imu.Unlock()
	var errs []error
	for _, in := range dirty {
		if try {
			if !in.mu.TryLock() {
				fs.unpin(in)
				continue
			}
		} else {
			in.mu.Lock()
		}
		errs = append(errs, fs.flushLocked(in))
		in.mu.Unlock()
		fs.unpin(in)
	}
	return errors.Join(errs...)
}

// beforeCommit is the transaction's BeforeCommit hook: it writes the
// buffered data of every inode it can lock at once, so a commit makes it
// durable. A commit started inside a flush (a handle's Start committing
// to free space) does not flush again. A failed flush is logged and keeps
// its data buffered; it does not fail the commit (the metadata of the
// transaction still commits; Sync, Fsync and Close report the error).
func (fs *FS) beforeCommit() error {
	if !fs.hookMu.TryLock() {
		return nil
	}
	defer fs.hookMu.Unlock()
	if err := fs.flushAll(true); err != nil {
		fmt.Fprintf(fs.log, "cowfs: flush before commit: %v\n", err)
	}
	return nil
}

// onNoSpace is the transaction's OnNoSpace hook: a handle could not
// reserve, so the buffers it can lock at once are flushed, giving back
// their metadata reservations (the kernel's FLUSH_DELALLOC). It reports
// whether there was anything to flush.
func (fs *FS) onNoSpace() bool {
	if fs.dirty.Load() == 0 || !fs.hookMu.TryLock() {
		return false
	}
	defer fs.hookMu.Unlock()
	if err := fs.flushAll(true); err != nil {
		fmt.Fprintf(fs.log, "cowfs: flush for space: %v\n", err)
	}
	return true
}

// discard drops the buffered data of an inode being deleted and marks it
// gone. REQUIRES: in.mu.
func (fs *FS) discard(in *inode) {
	fs.dirty.Add(-in.buffered.Load())
	in.buffered.Store(0)
	in.buf, in.mtime = nil, timeZero
	fs.dropRsv(in)
	in.gone, in.loaded = true, false
}
