package cache

import (
	"cmp"
	"slices"
)

// reserve accounts one more buffer, running reclaim first when it would not
// fit the budget:
//
//  1. evict clean unreferenced buffers, least recently used first;
//  2. if still over, write back dirty unreferenced buffers (in
//     Options.Order, try-locks only) and evict them, then evict clean ones
//     again (others may have been written meanwhile);
//  3. if still over, admit the buffer anyway and count OverBudget.
//
// Referenced, locked, pinned and under-writeback buffers are skipped, so
// reclaim never waits for a tree lock and never drops a dirty buffer. The
// cache mutex is released around the writes.
func (c *Cache) reserve() {
	c.mu.Lock()
	if c.fitsLocked() || c.evictCleanLocked() {
		c.admitLocked()
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.writeUnreferenced(CauseReclaim, c.reclaimWant, true)
	c.mu.Lock()
	if !c.fitsLocked() && !c.evictCleanLocked() {
		c.stats.overBudget.Add(1)
	}
	c.admitLocked()
	c.mu.Unlock()
}

// fitsLocked reports whether one more buffer fits the budget.
// REQUIRES: c.mu.
func (c *Cache) fitsLocked() bool { return c.mu.bytes+c.nodesize <= c.opts.Budget }

// admitLocked accounts the new buffer. REQUIRES: c.mu.
func (c *Cache) admitLocked() { c.mu.bytes += c.nodesize }

// reclaimWant is how many buffers must go before one more fits.
func (c *Cache) reclaimWant() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ceilNodes(c.mu.bytes+c.nodesize-c.opts.Budget, c.nodesize)
}

// ceilNodes is ⌈n / nodesize⌉ for n > 0, else 0.
func ceilNodes(n, nodesize int64) int {
	if n <= 0 {
		return 0
	}
	return int((n + nodesize - 1) / nodesize)
}

// evictCleanLocked evicts clean unreferenced buffers, least recently used
// first, until one more buffer fits; it reports whether it does.
// REQUIRES: c.mu.
func (c *Cache) evictCleanLocked() bool {
	for _, eb := range c.mu.index.Values() {
		if c.fitsLocked() {
			return true
		}
		if eb.Has(Dirty) {
			continue
		}
		c.tryEvictLocked(eb)
	}
	return c.fitsLocked()
}

// tryEvictLocked evicts eb if it is clean, unreferenced, unpinned, not under
// writeback, has no failed write (its bytes exist nowhere else) and its
// write lock is free. New references are only taken under c.mu, so none can
// appear meanwhile. REQUIRES: c.mu.
func (c *Cache) tryEvictLocked(eb *ExtentBuffer) bool {
	if eb.refs.Load() != 0 || eb.Has(Dirty|Writeback|WriteErr) || eb.WritebackBlockers() > 0 {
		return false
	}
	if !eb.TryLock() {
		return false
	}
	defer eb.Unlock()
	if !c.removeLocked(eb) {
		return false
	}
	c.stats.evictions.Add(1)
	return true
}

// writeUnreferenced writes dirty unreferenced buffers in Options.Order, in
// batches of want() buffers, until want() is 0 or none is left; with evict,
// each written buffer is evicted (reclaim). A batch is claimed with a
// reference each, so concurrent reclaimers and the flusher never pick the
// same buffer, and is written sorted by address with adjacent blocks merged.
func (c *Cache) writeUnreferenced(cause Cause, want func() int, evict bool) {
	cands := c.dirtyCandidates()
	for len(cands) > 0 {
		n := min(want(), len(cands))
		if n <= 0 {
			return
		}
		batch := c.claim(cands[:n])
		cands = cands[n:]
		_ = c.writeBack(batch, cause, false) // errors surface through OnWriteError
		c.unclaim(batch, evict)
	}
}

// dirtyCandidates lists the dirty, unreferenced buffers not under writeback,
// in Options.Order. Pinned ones are listed: writeback counts their skip.
func (c *Cache) dirtyCandidates() []*ExtentBuffer {
	c.mu.Lock()
	defer c.mu.Unlock()
	type cand struct {
		eb  *ExtentBuffer
		seq uint64
	}
	var cs []cand
	for _, eb := range c.mu.index.Values() {
		if c.writableLocked(eb) {
			cs = append(cs, cand{eb, eb.dirtySeq})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if c.opts.Order == OrderLRU {
			return cmp.Compare(a.seq, b.seq)
		}
		return cmp.Compare(a.eb.Bytenr, b.eb.Bytenr)
	})
	out := make([]*ExtentBuffer, len(cs))
	for i, x := range cs {
		out[i] = x.eb
	}
	return out
}

// writableLocked: dirty, unreferenced, not under writeback. REQUIRES: c.mu.
func (c *Cache) writableLocked(eb *ExtentBuffer) bool {
	return eb.refs.Load() == 0 && eb.Has(Dirty) && !eb.Has(Writeback)
}

// claim takes a reference on each buffer that is still writable.
func (c *Cache) claim(ebs []*ExtentBuffer) []*ExtentBuffer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*ExtentBuffer
	for _, eb := range ebs {
		if c.writableLocked(eb) {
			eb.refs.Add(1)
			out = append(out, eb)
		}
	}
	return out
}

// unclaim drops the references claim took and, with evict, evicts the
// buffers that are now clean and unreferenced.
func (c *Cache) unclaim(ebs []*ExtentBuffer, evict bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, eb := range ebs {
		if eb.refs.Add(-1) == 0 && evict {
			c.tryEvictLocked(eb)
		}
	}
}
