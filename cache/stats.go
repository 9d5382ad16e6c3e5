package cache

import (
	"fmt"
	"sync/atomic"
)

// Stats is a snapshot of the cache's counters. Counters only grow; Buffers,
// Bytes and DirtyBytes are the state at the moment of the snapshot. A
// benchmark subtracts two snapshots (Sub) to get the figures of one run.
type Stats struct {
	Hits   uint64 // Get found the block cached
	Misses uint64 // Get read the block from the device
	// ReadErrors counts Gets that failed: I/O error, unmapped address or a
	// block the checker rejected. Nothing was cached for them.
	ReadErrors uint64
	FindHits   uint64 // Find returned a buffer
	FindMisses uint64 // Find returned nil (the caller restarts)
	Creates    uint64 // buffers made by Create
	Discards   uint64 // buffers dropped by Discard (their dirty bytes never written)
	// Evictions counts buffers dropped to make room. Every evicted buffer
	// is clean at that moment: a dirty one is first written back (counted
	// in Writebacks[CauseReclaim]) and evicted after.
	Evictions uint64
	// Writebacks counts buffers handed to the device, by Cause. A buffer
	// the write-time checker rejected is not written and not counted here.
	Writebacks [NumCauses]uint64
	// BlockedSkips counts writeback attempts that found the buffer pinned
	// (WritebackBlockers() > 0) and left it dirty.
	BlockedSkips uint64
	// LockedSkips counts reclaim and flusher attempts whose try-lock failed.
	LockedSkips uint64
	// WriteIOs counts device writes: one per merged run of adjacent blocks
	// per copy (two copies for DUP).
	WriteIOs     uint64
	BytesWritten uint64 // bytes the device accepted, every copy counted
	// WriteErrors counts buffers left with WriteErr: an I/O error or a
	// write-time checker failure (the latter also in CheckFailures).
	WriteErrors   uint64
	CheckFailures uint64 // write-time checker rejections: always a bug
	// OverBudget counts new buffers admitted although reclaim could not get
	// under the budget (everything else referenced, locked, pinned or dirty
	// and unwritable).
	OverBudget uint64

	Buffers    int   // buffers in the cache
	Bytes      int64 // bytes of cached buffers and of reads in flight
	DirtyBytes int64 // bytes of dirty buffers
}

// HitRatio = Hits / (Hits + Misses), the share of Gets served from memory;
// 0 when there was no Get. Find is not counted.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// WritebacksTotal = Σ Writebacks over every cause.
func (s Stats) WritebacksTotal() uint64 {
	var n uint64
	for _, w := range s.Writebacks {
		n += w
	}
	return n
}

// Sub returns the counters of s minus those of an earlier snapshot prev;
// the state fields (Buffers, Bytes, DirtyBytes) are those of s.
func (s Stats) Sub(prev Stats) Stats {
	d := s
	d.Hits -= prev.Hits
	d.Misses -= prev.Misses
	d.ReadErrors -= prev.ReadErrors
	d.FindHits -= prev.FindHits
	d.FindMisses -= prev.FindMisses
	d.Creates -= prev.Creates
	d.Discards -= prev.Discards
	d.Evictions -= prev.Evictions
	for i := range d.Writebacks {
		d.Writebacks[i] -= prev.Writebacks[i]
	}
	d.BlockedSkips -= prev.BlockedSkips
	d.LockedSkips -= prev.LockedSkips
	d.WriteIOs -= prev.WriteIOs
	d.BytesWritten -= prev.BytesWritten
	d.WriteErrors -= prev.WriteErrors
	d.CheckFailures -= prev.CheckFailures
	d.OverBudget -= prev.OverBudget
	return d
}

// String prints the figures on one line, for benchmarks and scenarios.
func (s Stats) String() string {
	return fmt.Sprintf("hits=%d misses=%d hit-ratio=%.3f evictions=%d "+
		"writebacks(reclaim=%d threshold=%d commit=%d fsync=%d) blocked-skips=%d "+
		"locked-skips=%d write-ios=%d bytes-written=%d write-errors=%d over-budget=%d "+
		"buffers=%d bytes=%d dirty-bytes=%d",
		s.Hits, s.Misses, s.HitRatio(), s.Evictions,
		s.Writebacks[CauseReclaim], s.Writebacks[CauseThreshold], s.Writebacks[CauseCommit],
		s.Writebacks[CauseFsync], s.BlockedSkips, s.LockedSkips, s.WriteIOs, s.BytesWritten,
		s.WriteErrors, s.OverBudget, s.Buffers, s.Bytes, s.DirtyBytes)
}

// counters is the live, atomic form of Stats.
type counters struct {
	hits, misses, readErrors   atomic.Uint64
	findHits, findMisses       atomic.Uint64
	creates, discards          atomic.Uint64
	evictions, overBudget      atomic.Uint64
	writebacks                 [NumCauses]atomic.Uint64
	blockedSkips, lockedSkips  atomic.Uint64
	writeIOs, bytesWritten     atomic.Uint64
	writeErrors, checkFailures atomic.Uint64
}

// Stats returns a snapshot of the counters and of the cache's size.
func (c *Cache) Stats() Stats {
	k := &c.stats
	s := Stats{
		Hits: k.hits.Load(), Misses: k.misses.Load(), ReadErrors: k.readErrors.Load(),
		FindHits: k.findHits.Load(), FindMisses: k.findMisses.Load(),
		Creates: k.creates.Load(), Discards: k.discards.Load(),
		Evictions: k.evictions.Load(), OverBudget: k.overBudget.Load(),
		BlockedSkips: k.blockedSkips.Load(), LockedSkips: k.lockedSkips.Load(),
		WriteIOs: k.writeIOs.Load(), BytesWritten: k.bytesWritten.Load(),
		WriteErrors: k.writeErrors.Load(), CheckFailures: k.checkFailures.Load(),
	}
	for i := range s.Writebacks {
		s.Writebacks[i] = k.writebacks[i].Load()
	}
	c.mu.Lock()
	s.Buffers = c.mu.index.Len()
	s.Bytes = c.mu.bytes
	c.mu.Unlock()
	s.DirtyBytes = c.dirtyBytes.Load()
	return s
}
