package alloc

// Delayed references: the queue of reference changes a transaction makes to
// extents, applied to the extent tree at commit (docs/delayed-refs.md).
//
// Every COW frees one tree block and allocates another; every file write
// adds a data extent and drops the one it replaces. Changing the extent tree
// for each of these on the spot would recurse (the extent tree is itself a
// COW tree) and would write items for extents that live for a fraction of a
// transaction. Instead each change is queued as a RefMod, merged into the
// head of its extent, and only the net result reaches the extent tree.

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// RefMod is one reference added (Delta > 0) or dropped (Delta < 0).
//
// A tree-block reference is identified by Root alone (the block's owner
// tree; Objectid and Offset are ignored), a data reference by (Root,
// Objectid, Offset): the fields of its EXTENT_DATA_REF backref.
type RefMod struct {
	Bytenr, NumBytes uint64
	Data             bool   // false: tree block; true: data extent
	Root             uint64 // tree block: owner tree; data: root of the file extent
	Level            int    // tree block only
	Objectid         uint64 // data: inode number
	Offset           uint64 // data: file offset - extent offset (the EXTENT_DATA_REF offset)
	Delta            int64
}

// RefHead is the net change of every reference of one extent, as Take
// returns it. NumBytes, Data and Level describe the extent (for a tree
// block NumBytes is the nodesize); Refs holds the references whose deltas
// do not sum to zero, sorted by (Root, Objectid, Offset).
type RefHead struct {
	Bytenr, NumBytes uint64
	Data             bool
	Level            int
	Refs             []RefDelta
}

// RefDelta is the net change of one reference of a head. For a tree block
// Objectid and Offset are zero.
type RefDelta struct {
	Root, Objectid, Offset uint64
	Delta                  int64
}

// Net is the sum of the head's deltas: the change of the extent item's
// reference count.
func (h *RefHead) Net() int64 {
	var n int64
	for _, r := range h.Refs {
		n += r.Delta
	}
	return n
}

// DelayedRefStats are the queue's counters since NewDelayedRefs.
//
//	Queued   = RefMods given to Add with a non-zero Delta
//	Merged   = of those, the ones that landed on a reference already queued
//	           (same extent, same identity) and were summed into it
//	Canceled = references whose queued deltas summed to zero and were
//	           dropped (an extent allocated and freed in one transaction)
//	Taken    = heads returned by Take; TakenRefs = their references
//
// Queued - Merged is the number of distinct references ever queued; the
// ratio Queued / TakenRefs says how much merging saved the extent tree.
type DelayedRefStats struct {
	Queued, Merged, Canceled uint64
	Taken, TakenRefs         uint64
}

// refShards spreads heads over independently locked maps, so goroutines
// adding references to different extents rarely wait for each other.
const refShards = 16

// DelayedRefs is the queue of one transaction: one head per extent
// (bytenr), each holding the net delta of every reference identity. Add is
// safe for concurrent use by many goroutines, and so are Len, Take and
// Stats; a Take sees each Add either entirely or not at all.
type DelayedRefs struct {
	shards [refShards]refShard

	queued, merged, canceled atomic.Uint64
	taken, takenRefs         atomic.Uint64
}

// refShard guards the heads whose bytenr hashes to it.
type refShard struct {
	mu sync.Mutex
	// heads holds only heads with at least one non-zero reference: a head
	// whose references all cancel is deleted at once, so len(heads) is the
	// shard's share of Len. REQUIRES: mu.
	heads map[uint64]*queuedHead
}

// queuedHead is a head being built: refs maps an identity to its summed
// delta, and holds no zero entry; net is their sum (the kernel's
// total_ref_mod).
type queuedHead struct {
	numBytes uint64
	data     bool
	level    int
	net      int64
	refs     map[refID]int64
}

// refID is the identity of a reference within its extent.
type refID struct{ root, objectid, offset uint64 }

// NewDelayedRefs returns an empty queue.
func NewDelayedRefs() *DelayedRefs {
	d := &DelayedRefs{}
	for i := range d.shards {
		d.shards[i].heads = map[uint64]*queuedHead{}
	}
	return d
}

func (d *DelayedRefs) shard(bytenr uint64) *refShard {
	// Extents are at least sector-aligned; mix the bits above that.
	h := bytenr >> 12
	h ^= h >> 7
	h ^= h >> 17
	return &d.shards[h%refShards]
}

// Add merges m into the head of m.Bytenr: a reference with the same
// identity has its delta summed with m's, and a reference whose sum reaches
// zero disappears (with its head, when it was the last). A zero Delta is
// ignored. It returns the head's net change afterwards (0 without a head):
// the change of the extent's reference count once the head runs, which
// the transaction watches to reserve the checksum deletion of a data
// extent that may lose its last reference.
//
// A head's NumBytes, Data and Level are those of the Add that created it.
// They cannot change while references are queued (an extent is freed before
// its space can be allocated again): an Add contradicting them is a
// programming error and panics.
func (d *DelayedRefs) Add(m RefMod) int64 {
	if m.Delta == 0 {
		return d.net(m.Bytenr)
	}
	id := refID{root: m.Root, objectid: m.Objectid, offset: m.Offset}
	if !m.Data {
		id.objectid, id.offset = 0, 0
	} else {
		m.Level = 0
	}
	d.queued.Add(1)
	s := d.shard(m.Bytenr)
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.heads[m.Bytenr]
	if h == nil {
		h = &queuedHead{numBytes: m.NumBytes, data: m.Data, level: m.Level, refs: map[refID]int64{}}
		s.heads[m.Bytenr] = h
	} else if h.numBytes != m.NumBytes || h.data != m.Data || h.level != m.Level {
		panic(fmt.Sprintf("alloc: delayed ref for extent %d (%d bytes, data %v, level %d) "+
			"contradicts its queued head (%d bytes, data %v, level %d)",
			m.Bytenr, m.NumBytes, m.Data, m.Level, h.numBytes, h.data, h.level))
	}
	old, ok := h.refs[id]
	if ok {
		d.merged.Add(1)
	}
	h.net += m.Delta
	switch sum := old + m.Delta; {
	case sum != 0:
		h.refs[id] = sum
	case ok:
		delete(h.refs, id)
		d.canceled.Add(1)
		if len(h.refs) == 0 {
			delete(s.heads, m.Bytenr)
		}
	}
	return h.net
}

// net is the net change queued for the extent at bytenr.
func (d *DelayedRefs) net(bytenr uint64) int64 {
	s := d.shard(bytenr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.heads[bytenr]; h != nil {
		return h.net
	}
	return 0
}

// Len is the number of heads with a non-zero net change of some reference.
func (d *DelayedRefs) Len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.heads)
		s.mu.Unlock()
	}
	return n
}

// Take removes and returns every head with a non-zero change, sorted by
// Bytenr, each with its references sorted. References whose deltas summed
// to zero were dropped by Add, so an extent allocated and freed in the same
// transaction never reaches the extent tree. The shards are emptied all
// under their locks at once, so the result is one consistent cut of the
// concurrent Adds.
func (d *DelayedRefs) Take() []*RefHead {
	for i := range d.shards {
		d.shards[i].mu.Lock()
	}
	var taken []map[uint64]*queuedHead
	for i := range d.shards {
		s := &d.shards[i]
		if len(s.heads) > 0 {
			taken = append(taken, s.heads)
			s.heads = map[uint64]*queuedHead{}
		}
	}
	for i := range d.shards {
		d.shards[i].mu.Unlock()
	}
	var out []*RefHead
	for _, m := range taken {
		for bytenr, h := range m {
			out = append(out, h.finish(bytenr))
		}
	}
	slices.SortFunc(out, func(a, b *RefHead) int { return cmp.Compare(a.Bytenr, b.Bytenr) })
	d.taken.Add(uint64(len(out)))
	for _, h := range out {
		d.takenRefs.Add(uint64(len(h.Refs)))
	}
	return out
}

// finish turns a queued head into its sorted RefHead.
func (h *queuedHead) finish(bytenr uint64) *RefHead {
	rh := &RefHead{Bytenr: bytenr, NumBytes: h.numBytes, Data: h.data, Level: h.level,
		Refs: make([]RefDelta, 0, len(h.refs))}
	for id, delta := range h.refs {
		rh.Refs = append(rh.Refs, RefDelta{Root: id.root, Objectid: id.objectid, Offset: id.offset, Delta: delta})
	}
	slices.SortFunc(rh.Refs, compareRefDelta)
	return rh
}

func compareRefDelta(a, b RefDelta) int {
	return cmp.Or(cmp.Compare(a.Root, b.Root), cmp.Compare(a.Objectid, b.Objectid), cmp.Compare(a.Offset, b.Offset))
}

// Stats returns a snapshot of the counters.
func (d *DelayedRefs) Stats() DelayedRefStats {
	return DelayedRefStats{
		Queued: d.queued.Load(), Merged: d.merged.Load(), Canceled: d.canceled.Load(),
		Taken: d.taken.Load(), TakenRefs: d.takenRefs.Load(),
	}
}
