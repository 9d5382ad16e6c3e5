package transaction

import (
	"errors"
	"fmt"

	"cowfs/alloc"
	"cowfs/disk/format"
)

// Start begins a handle in the running transaction that may insert up to
// numItems items: it reserves InsertSize(numItems) bytes for the handle and
// as much again for the delayed references it will queue. When the space
// cannot be promised it flushes as the kernel's flush_space does, cheapest
// first, retrying after each state that did something (flush.go): buffered
// data (FLUSH_DELALLOC), a metadata chunk once the groups are 80% used
// (ALLOC_CHUNK), a commit (COMMIT_TRANS); then it fails with ENOSPC before
// anything changed (as the kernel does). It commits first when checksum
// deletions are owed (csum_rsv.go).
func (fs *FS) Start(numItems int) (*Handle, error) {
	if numItems < 0 {
		return nil, fmt.Errorf("start a transaction: %d items", numItems)
	}
	if err := fs.commitOwed(); err != nil {
		return nil, err
	}
	bytes := InsertSize(fs.NodeSize(), numItems)
	return fs.reserveOrFlush(func() (*Handle, error) { return fs.begin(userHandle, numItems, bytes, nil) })
}

// OnNoSpace sets a function Start runs when it cannot reserve, before it
// commits; it reports whether it gave any reservation back. It may run in
// a goroutine holding locks of the caller's (it must only try-lock).
func (fs *FS) OnNoSpace(fn func() bool) { fs.onNoSpace.Store(&fn) }

// commitWouldFree reports whether a commit would release space: pinned
// extents, or delayed-refs and delayed-items reservations.
func (fs *FS) commitWouldFree() bool {
	_, refs := fs.delayedRefs.Info()
	_, items := fs.delayedItems.Info()
	return fs.alloc.PinnedBytes() > 0 || refs > 0 || items > 0
}

// Join begins a handle without a reserve of its own: its charges come from
// the delayed-refs and global reserves (the kernel's join_transaction).
func (fs *FS) Join() (*Handle, error) { return fs.begin(joinHandle, 0, 0, nil) }

// StartFrom is Start with the handle's reserve, and the delayed refs'
// share, moved out of from, which its owner filled earlier: the kernel's
// delalloc reserves metadata when data is buffered and the flush spends
// it. It fails with alloc.ErrRsvExhausted, changing nothing, when from
// holds less than 2 × InsertSize(numItems); it never commits.
func (fs *FS) StartFrom(numItems int, from *alloc.BlockRsv) (*Handle, error) {
	if numItems < 0 {
		return nil, fmt.Errorf("start a transaction: %d items", numItems)
	}
	return fs.begin(userHandle, numItems, InsertSize(fs.NodeSize(), numItems), from)
}

func (fs *FS) begin(kind handleKind, numItems int, bytes uint64, from *alloc.BlockRsv) (*Handle, error) {
	fs.commitLock.RLock()
	if err := fs.readOnlyErr(); err != nil {
		fs.commitLock.RUnlock()
		return nil, err
	}
	h := &Handle{fs: fs, t: fs.current(), numItems: numItems, reserved: bytes, kind: kind, handlePins: fs.newHandlePins(bytes)}
	if kind == userHandle {
		h.rsv = fs.alloc.NewRsv("trans_block_rsv", format.BlockGroupMetadata)
		if err := fs.reserve(h.rsv, bytes, from); err != nil {
			fs.commitLock.RUnlock()
			return nil, fmt.Errorf("start a transaction of %d items: %w", numItems, err)
		}
	}
	h.t.handles.Add(1)
	fs.liveReserved.Add(bytes)
	fs.stats.handles.Add(1)
	return h, nil
}

// reserve fills a new handle reserve and grows the delayed-refs reserve by
// as much, from the free space or, when from is not nil, out of from; or
// it changes nothing.
func (fs *FS) reserve(rsv *alloc.BlockRsv, bytes uint64, from *alloc.BlockRsv) error {
	if bytes == 0 {
		return nil
	}
	if from != nil {
		if err := from.Migrate(rsv, 2*bytes); err != nil {
			return err
		}
		return rsv.Migrate(fs.delayedRefs, bytes)
	}
	if err := rsv.Add(bytes); err != nil {
		return err
	}
	if err := fs.delayedRefs.Add(bytes); err != nil {
		rsv.Release()
		return err
	}
	return nil
}

// End ends the handle: its unused reserve goes back, and the commit may
// proceed once every handle has ended. It returns the abort error if the
// transaction was aborted meanwhile.
func (h *Handle) End() error {
	if h.ended.Swap(true) {
		return errors.New("transaction handle ended twice")
	}
	h.handlePins.UnpinAll()
	h.fs.delayedItems.ReleaseBytes(h.delayedItems)
	if h.rsv != nil {
		h.rsv.Release()
		h.fs.liveReserved.Add(-h.reserved)
		h.fs.trimDelayedRefsRsv()
	}
	h.t.handles.Add(-1)
	h.fs.stats.record(h)
	if h.kind != commitHandle {
		h.fs.commitLock.RUnlock()
	}
	return h.fs.readOnlyErr()
}

// trimDelayedRefsRsv keeps in the delayed-refs reserve what the queued
// refs can need — one item's insert size per head, as the kernel's
// btrfs_calc_delayed_ref_bytes, and the checksum deletions reserved
// (csumRsv) — and returns the rest: Start adds a whole handle's worth,
// most of which a handle never queues. Handles still running keep their
// whole share.
func (fs *FS) trimDelayedRefsRsv() {
	need := uint64(fs.refs.Len())*InsertSize(fs.NodeSize(), 1) + fs.csumRsv.Load() + fs.liveReserved.Load()
	fs.delayedRefs.Shrink(need)
}

// current returns the running transaction.
func (fs *FS) current() *Transaction {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.mu.cur
}

// readOnlyErr is the error for a change refused: the abort's cause, or
// a read-only open, or a closed filesystem.
func (fs *FS) readOnlyErr() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch {
	case fs.mu.abort != nil:
		return fmt.Errorf("%w (transaction aborted: %w)", ErrReadOnly, fs.mu.abort)
	case fs.mu.closed:
		return ErrClosed
	case fs.opts.ReadOnly:
		return ErrReadOnly
	}
	return nil
}
