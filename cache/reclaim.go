package cache

// Reclaim keeps two orders besides the index, both under c.mu, so that a
// pass costs what it evicts or writes rather than what the cache holds:
//
//   - the clean LRU (c.mu.clean, a simplelru list used only as an ordered
//     index) holds the clean buffers, least recently used first. A buffer
//     joins it at the recent end when it is read, created, or written back
//     (writeback takes its DIRTY bit), and leaves it when it is dirtied or
//     evicted. Hits do not move it (touch); a pass walks from the old end,
//     evicts what it can, and moves what it passes over (used, referenced,
//     locked, pinned, under writeback) to the recent end. A buffer whose
//     last write failed stays in the index but leaves the list: it cannot
//     be evicted until it is dirtied and written again.
//   - the dirty heap (c.mu.dirty) orders the dirty buffers by
//     Options.Order; a pass pops candidates from it instead of listing and
//     sorting every dirty buffer.
//
// Cost: evicting a clean buffer is O(1) amortized (plus one move for each
// buffer passed over); writing back a dirty one is O(log d) for d dirty
// buffers (one push when dirtied, one pop), with lazily deleted entries
// compacted in O(1) amortized.

// reserve accounts one more buffer, running reclaim first when it would not
// fit the budget:
//
//  1. evict clean unreferenced buffers, least recently used first;
//  2. if still over, write back dirty unreferenced buffers (in
//     Options.Order, try-locks only) and evict them, then evict clean ones
//     again (others may have been written meanwhile);
//  3. if still over, admit the buffer anyway and count OverBudget.
//
// Once it runs, reclaim goes down to the budget minus a slack (c.slack) when
// it can, so it runs once per batch of new buffers; it writes dirty buffers
// only when the clean ones cannot make room for the one new buffer.
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

// atTargetLocked reports whether one more buffer fits the budget minus the
// slack: where a reclaim pass stops. REQUIRES: c.mu.
func (c *Cache) atTargetLocked() bool { return c.mu.bytes+c.nodesize <= c.opts.Budget-c.slack }

// admitLocked accounts the new buffer. REQUIRES: c.mu.
func (c *Cache) admitLocked() { c.mu.bytes += c.nodesize }

// reclaimWant is how many buffers must go for one more to fit the budget
// minus the slack.
func (c *Cache) reclaimWant() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ceilNodes(c.mu.bytes+c.nodesize-(c.opts.Budget-c.slack), c.nodesize)
}

// ceilNodes is ⌈n / nodesize⌉ for n > 0, else 0.
func ceilNodes(n, nodesize int64) int {
	if n <= 0 {
		return 0
	}
	return int((n + nodesize - 1) / nodesize)
}

// evictCleanLocked evicts clean unreferenced buffers from the old end of the
// clean LRU until the cache is at its reclaim target; it reports whether one
// more buffer fits the budget. It looks at each buffer at most twice: a used
// one gets its second chance in the first round and is evicted in the
// second, so every evictable clean buffer goes before any dirty one is
// written. REQUIRES: c.mu.
func (c *Cache) evictCleanLocked() bool {
	lru := c.mu.clean
	for n := 2 * lru.Len(); n > 0 && !c.atTargetLocked(); n-- {
		_, eb, ok := lru.GetOldest()
		if !ok {
			break
		}
		switch {
		case eb.used.Load():
			eb.used.Store(false)
			lru.Get(eb.Bytenr) // second chance: to the recent end
		case eb.Has(WriteErr):
			c.cleanRemoveLocked(eb) // its bytes exist nowhere else
		case !c.tryEvictLocked(eb):
			lru.Get(eb.Bytenr) // in use: to the recent end
		}
	}
	return c.fitsLocked()
}

// tryEvictLocked evicts eb if it is clean, unreferenced, unpinned, not under
// writeback, has no failed write (its bytes exist nowhere else) and its
// write lock is free. REQUIRES: c.mu.
func (c *Cache) tryEvictLocked(eb *ExtentBuffer) bool {
	if !c.dropUnusedLocked(eb, Dirty|Writeback|WriteErr, true) {
		return false
	}
	eb.freeData()
	c.stats.evictions.Add(1)
	return true
}

// cleanAddLocked puts eb at the recent end of the clean LRU (or moves it
// there). REQUIRES: c.mu.
func (c *Cache) cleanAddLocked(eb *ExtentBuffer) {
	eb.used.Store(false)
	if eb.inClean {
		c.mu.clean.Get(eb.Bytenr)
		return
	}
	eb.inClean = true
	c.mu.clean.Add(eb.Bytenr, eb)
}

// cleanRemoveLocked takes eb out of the clean LRU. REQUIRES: c.mu.
func (c *Cache) cleanRemoveLocked(eb *ExtentBuffer) {
	if eb.inClean {
		eb.inClean = false
		c.mu.clean.Remove(eb.Bytenr)
	}
}

// writeUnreferenced writes dirty unreferenced buffers in Options.Order, in
// batches of want() buffers, until want() is 0 or none is left; with evict,
// each written buffer is evicted (reclaim). A batch is claimed with a
// reference each, so concurrent reclaimers and the flusher never pick the
// same buffer, and is written sorted by address with adjacent blocks merged.
// Each buffer is tried at most once per call: the candidates it pops from
// the dirty heap, written or not, go back (if still dirty) when it returns.
func (c *Cache) writeUnreferenced(cause Cause, want func() int, evict bool) {
	var tried []dirtyEntry
	for {
		n := want()
		if n <= 0 {
			break
		}
		batch := c.claimDirty(n, &tried)
		if len(batch) == 0 {
			break
		}
		_ = c.writeBack(batch, cause, false) // errors surface through OnWriteError
		c.unclaim(batch, evict)
	}
	c.putBack(tried)
}

// claimDirty pops up to n dirty buffers that are writable from the dirty
// heap, in order, and claims each with a reference. Every entry it pops is
// appended to tried.
func (c *Cache) claimDirty(n int, tried *[]dirtyEntry) []*ExtentBuffer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*ExtentBuffer
	for len(out) < n {
		e, ok := c.mu.dirty.pop()
		if !ok {
			break
		}
		*tried = append(*tried, e)
		if c.writableLocked(e.eb) {
			e.eb.refs.Add(1)
			out = append(out, e.eb)
		}
	}
	return out
}

// putBack returns popped entries to the dirty heap, those whose buffers are
// still dirty with the same entry (not written, not re-dirtied meanwhile).
func (c *Cache) putBack(es []dirtyEntry) {
	if len(es) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range es {
		c.mu.dirty.push(e)
	}
}

// writableLocked: dirty, unreferenced, not under writeback. Pinned buffers
// are writable here: writeback counts their skip. REQUIRES: c.mu.
func (c *Cache) writableLocked(eb *ExtentBuffer) bool {
	return eb.refs.Load() == 0 && eb.Has(Dirty) && !eb.Has(Writeback)
}

// unclaim drops the references claimDirty took and, with evict, evicts the
// buffers that are now clean and unreferenced.
func (c *Cache) unclaim(ebs []*ExtentBuffer, evict bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, eb := range ebs {
		n := eb.refs.Add(-1)
		switch {
		case n == 0 && eb.Has(Stale): // discarded while claimed: as in Release
			eb.freeData()
		case n == 0 && evict:
			c.tryEvictLocked(eb)
		}
	}
}

// dirtyEntry is one entry of the dirty heap.
type dirtyEntry struct {
	key uint64 // Bytenr (OrderAddress) or dirtySeq (OrderLRU)
	gen uint64 // eb.dirtyGen when pushed: the entry is stale once they differ
	eb  *ExtentBuffer
}

// dirtyHeap is a binary min-heap of the dirty buffers by key, with lazy
// deletion: a buffer that is written or discarded only gets its dirtyGen
// cleared (forget), and a buffer re-dirtied under OrderLRU gets a new entry
// with its new sequence number; stale entries are dropped when they reach
// the top, or all at once when they outnumber the live ones (compact: O(1)
// amortized per entry). Guarded by the cache's mutex.
type dirtyHeap struct {
	order WritebackOrder
	es    []dirtyEntry
	live  int    // buffers with dirtyGen != 0 (in es or popped by a pass)
	gen   uint64 // last generation handed out
}

// mark gives a newly dirtied buffer its entry; under OrderLRU a re-dirtied
// one gets a new entry at its new place.
func (h *dirtyHeap) mark(eb *ExtentBuffer) {
	if eb.dirtyGen != 0 && h.order != OrderLRU {
		return
	}
	if eb.dirtyGen == 0 {
		h.live++
	}
	h.gen++
	eb.dirtyGen = h.gen
	key := eb.Bytenr
	if h.order == OrderLRU {
		key = eb.dirtySeq
	}
	h.es = append(h.es, dirtyEntry{key: key, gen: h.gen, eb: eb})
	h.up(len(h.es) - 1)
	h.compact()
}

// forget makes eb's entry stale: it is no longer dirty (or no longer cached).
func (h *dirtyHeap) forget(eb *ExtentBuffer) {
	if eb.dirtyGen != 0 {
		eb.dirtyGen = 0
		h.live--
		h.compact()
	}
}

// pop removes and returns the live entry with the smallest key.
func (h *dirtyHeap) pop() (dirtyEntry, bool) {
	for len(h.es) > 0 {
		e := h.es[0]
		last := len(h.es) - 1
		h.es[0] = h.es[last]
		h.es[last] = dirtyEntry{}
		h.es = h.es[:last]
		if last > 0 {
			h.down(0)
		}
		if e.gen == e.eb.dirtyGen {
			return e, true
		}
	}
	return dirtyEntry{}, false
}

// push returns a popped entry, unless it went stale meanwhile.
func (h *dirtyHeap) push(e dirtyEntry) {
	if e.gen != e.eb.dirtyGen {
		return
	}
	h.es = append(h.es, e)
	h.up(len(h.es) - 1)
}

// compact drops the stale entries once they outnumber the live ones.
func (h *dirtyHeap) compact() {
	if len(h.es) <= 2*h.live+64 {
		return
	}
	kept := h.es[:0]
	for _, e := range h.es {
		if e.gen == e.eb.dirtyGen {
			kept = append(kept, e)
		}
	}
	clear(h.es[len(kept):])
	h.es = kept
	for i := len(h.es)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *dirtyHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.es[p].key <= h.es[i].key {
			return
		}
		h.es[p], h.es[i] = h.es[i], h.es[p]
		i = p
	}
}

func (h *dirtyHeap) down(i int) {
	n := len(h.es)
	for {
		m := i
		if l := 2*i + 1; l < n && h.es[l].key < h.es[m].key {
			m = l
		}
		if r := 2*i + 2; r < n && h.es[r].key < h.es[m].key {
			m = r
		}
		if m == i {
			return
		}
		h.es[m], h.es[i] = h.es[i], h.es[m]
		i = m
	}
}
