package transaction

import (
	"errors"
	"fmt"
	"sync/atomic"

	"cowfs/alloc"
	"cowfs/cache"
	"cowfs/ctree"
	"cowfs/disk/format"
)

// Handle is one unit of work inside the running transaction, as the
// kernel's btrfs_trans_handle: it holds a block reserve sized at Start,
// every COW and new block it causes is charged to that reserve, and it
// implements ctree.Trans for the trees it changes. Handles are used by one
// goroutine at a time, but many run at once.
type Handle struct {
	fs       *FS
	t        *Transaction
	rsv      *alloc.BlockRsv
	numItems int
	reserved uint64
	// kind: a user handle charges its own reserve only; a joined or commit
	// handle (no reserve of its own) charges the delayed-refs reserve and
	// then the global reserve, as the kernel falls back to them.
	kind  handleKind
	ended atomic.Bool
	pins  commitPins // commit handle only
	// handlePins: the copies pinned until End under pin-handle
	// (handle_pins.go).
	handlePins cache.PinList

	charged, overspent atomic.Uint64
	// delayedItems: bytes this handle moved into the delayed-items reserve
	// (MigrateDelayedItem), given back at End.
	delayedItems uint64
}

type handleKind int

const (
	userHandle handleKind = iota
	joinHandle
	commitHandle
)

// InsertSize is what a handle reserves per item it may insert: a path of
// MaxLevel blocks COWed, twice (a split may touch a second path), as the
// kernel's btrfs_calc_insert_metadata_size.
func InsertSize(nodesize uint32, items int) uint64 {
	return uint64(items) * uint64(nodesize) * format.MaxLevel * 2
}

var _ ctree.Trans = (*Handle)(nil)

// Transid is the running transaction's generation.
func (h *Handle) Transid() uint64 { return h.t.transid }

// Charge charges one node to the handle's reserve before a COW or a new
// block. A dry reserve is an overspend: counted, and under strict
// reservations the transaction aborts with ENOSPC and the reserves are
// dumped (the seed's failure).
func (h *Handle) Charge(owner uint64, level int) error {
	ns := uint64(h.fs.NodeSize())
	h.charged.Add(ns)
	err := h.use(ns)
	if err == nil {
		return nil
	}
	h.overspent.Add(ns)
	h.fs.stats.overspends.Add(1)
	if h.fs.opts.Reservations == Lenient {
		if err = h.fs.takeUnreserved(ns); err == nil {
			return nil
		}
	}
	err = fmt.Errorf("charge a COW of tree %d level %d: %w", owner, level, err)
	h.fs.abortWithDump(err, h)
	return err
}

// use takes bytes from the reserves this handle may use.
func (h *Handle) use(bytes uint64) error {
	if h.rsv != nil {
		if err := h.rsv.Use(bytes); err == nil || h.kind == userHandle {
			return err
		}
	}
	if err := h.fs.delayedRefs.Use(bytes); err == nil {
		return nil
	}
	return h.fs.global.Use(bytes)
}

// AllocBlock allocates a tree block (a new chunk when the groups are full)
// and queues the reference that will create its extent item.
func (h *Handle) AllocBlock(owner uint64, level int) (uint64, error) {
	system := owner == format.ChunkTreeObjectID
	b, err := h.fs.allocTree(system)
	if err != nil {
		return 0, fmt.Errorf("allocate a block of tree %d: %w", owner, err)
	}
	ns := uint64(h.fs.NodeSize())
	h.t.mu.Lock()
	h.t.mu.fresh[b] = freshExtent{length: ns}
	h.t.mu.Unlock()
	h.fs.refs.Add(alloc.RefMod{Bytenr: b, NumBytes: ns, Root: owner, Level: level, Delta: 1})
	return b, nil
}

// FreeBlock drops the tree's reference to eb. A block this transaction
// allocated and whose extent item does not exist yet cancels its queued
// reference and is freed at once (pinned if it was written, since reclaim
// may have put it on disk: the space is reused only after the commit).
func (h *Handle) FreeBlock(owner uint64, eb *cache.ExtentBuffer) {
	ns := uint64(h.fs.NodeSize())
	hdr := eb.Header()
	level := int(hdr.Level())
	if h.kind == commitHandle {
		h.pins.unpin(h.fs.cache, eb.Bytenr)
	}
	t := h.t
	t.mu.Lock()
	delete(t.mu.dirty, eb.Bytenr)
	_, fresh := t.mu.fresh[eb.Bytenr]
	delete(t.mu.fresh, eb.Bytenr)
	if fresh && !hdr.Written() {
		t.mu.unreserve = append(t.mu.unreserve, alloc.Range{Start: eb.Bytenr, Len: ns})
	}
	t.mu.Unlock()
	h.fs.refs.Add(alloc.RefMod{Bytenr: eb.Bytenr, NumBytes: ns, Root: owner, Level: level, Delta: -1})
	if fresh && hdr.Written() {
		if err := h.fs.alloc.PinReserved(eb.Bytenr, ns); err != nil {
			h.fs.noteAccountingError(err)
		}
	}
}

// AddDirty records eb in the transaction's dirty set. The commit's own
// handle also keeps what it dirties from writeback until the commit writes
// the dirty set (see commitPins).
func (h *Handle) AddDirty(eb *cache.ExtentBuffer) {
	h.t.addDirty(eb.Bytenr)
	if h.kind == commitHandle {
		h.pins.pin(h.fs.cache, eb)
	}
}

// MigrateDelayedItem moves one item's reservation from the handle to the
// delayed-items reserve, as btrfs_insert_delayed_dir_index does when a
// directory entry is added. This is where the seed's create failed: the
// handle's reserve had been eaten by re-COWs. A dry reserve is handled as
// in Charge. The caller inserts the item before End, which releases the
// reservation (the kernel's btrfs_delayed_item_release_metadata once a
// delayed item is in the tree).
func (h *Handle) MigrateDelayedItem() error {
	bytes := InsertSize(h.fs.NodeSize(), 1)
	if h.rsv == nil {
		return fmt.Errorf("migrate a delayed item: handle without a reserve: %w", alloc.ErrRsvExhausted)
	}
	err := h.rsv.Migrate(h.fs.delayedItems, bytes)
	if err == nil {
		h.delayedItems += bytes
		return nil
	}
	h.overspent.Add(bytes)
	h.fs.stats.overspends.Add(1)
	if h.fs.opts.Reservations == Lenient {
		if err = h.fs.delayedItems.Add(bytes); err == nil {
			h.delayedItems += bytes
			return nil
		}
	}
	err = fmt.Errorf("add a delayed dir index: %w", err)
	h.fs.abortWithDump(err, h)
	return err
}

// AllocData allocates a data extent of length bytes (a multiple of the
// sector size); a new DATA chunk is added when the groups are full. The
// extent is freed at commit unless a reference is added (AddDataRef).
func (h *Handle) AllocData(length uint64) (uint64, error) {
	b, err := h.fs.allocData(length)
	if err != nil {
		return 0, err
	}
	h.t.mu.Lock()
	h.t.mu.fresh[b] = freshExtent{length: length, data: true}
	h.t.mu.Unlock()
	return b, nil
}

// AddDataRef queues delta references from (root, inode, offset) to the
// data extent [bytenr, +numBytes); offset is the file offset minus the
// offset into the extent (EXTENT_DATA_REF's offset). A drop that may free
// the extent reserves the deletion of its checksums (csum_rsv.go).
func (h *Handle) AddDataRef(bytenr, numBytes, root, inode, offset uint64, delta int64) {
	h.addDataRef(alloc.RefMod{Bytenr: bytenr, NumBytes: numBytes, Data: true,
		Root: root, Objectid: inode, Offset: offset, Delta: delta})
}

// HandleStats is what a handle reserved and what it charged.
type HandleStats struct {
	NumItems  int
	Reserved  uint64 // bytes reserved at Start: NumItems × InsertSize
	Charged   uint64 // bytes charged: one node per COW or new block
	Overspent uint64 // bytes charged (or migrated) past the reserve
}

// Stats returns the handle's figures; Charged/Reserved is its reservation
// use (> 1 means it overspent).
func (h *Handle) Stats() HandleStats {
	return HandleStats{NumItems: h.numItems, Reserved: h.reserved, Charged: h.charged.Load(), Overspent: h.overspent.Load()}
}

// usable fails on an ended handle or an aborted filesystem.
func (h *Handle) usable() error {
	if h.ended.Load() {
		return errors.New("transaction handle already ended")
	}
	return h.fs.readOnlyErr()
}
