package transaction

import "cowfs/cache"

// commitPins keeps the blocks a commit dirties from being written back
// until the commit writes its dirty set. Without it, under a tight cache
// budget, reclaim writes an extent-tree block between two rounds of the
// fixed-point loop, the next round must COW it again (WRITTEN), which
// queues another reference, and the loop never ends — the seed's
// amplification inside the commit. The commit's working set is small (the
// paths of the extent, root and chunk trees it edits), so the cache goes
// over budget by that much instead (cache.Stats OverBudget).
type commitPins struct {
	m map[uint64]*cache.ExtentBuffer
}

// pin takes a reference and blocks writeback of eb, once.
func (p *commitPins) pin(c *cache.Cache, eb *cache.ExtentBuffer) {
	if p.m == nil {
		p.m = map[uint64]*cache.ExtentBuffer{}
	}
	if _, ok := p.m[eb.Bytenr]; ok {
		return
	}
	eb.BlockWriteback()
	p.m[eb.Bytenr] = c.Ref(eb)
}

// unpin releases the block at bytenr, if pinned.
func (p *commitPins) unpin(c *cache.Cache, bytenr uint64) {
	if eb, ok := p.m[bytenr]; ok {
		delete(p.m, bytenr)
		eb.UnblockWriteback()
		c.Release(eb)
	}
}

// releaseAll unpins every block.
func (p *commitPins) releaseAll(c *cache.Cache) {
	for b := range p.m {
		p.unpin(c, b)
	}
}
