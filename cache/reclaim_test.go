package cache

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk/format"
)

func TestBudgetEvictsCleanOldestFirst(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(4))
	trees := im.res.Trees
	require.GreaterOrEqual(t, len(trees), 6)
	get := func(i int) {
		eb, err := c.Get(expect(trees[i]))
		require.NoError(t, err)
		c.Release(eb)
	}
	for i := range 4 {
		get(i)
	}
	require.Zero(t, c.Stats().Evictions)

	get(4) // evicts 0, the least recently used
	require.False(t, c.cached(trees[0].Bytenr))
	for i := 1; i <= 4; i++ {
		require.True(t, c.cached(trees[i].Bytenr))
	}
	get(1) // a hit: 1 becomes the most recently used
	get(5) // evicts 2, not 1
	require.False(t, c.cached(trees[2].Bytenr))
	require.True(t, c.cached(trees[1].Bytenr))

	s := c.Stats()
	require.Equal(t, uint64(2), s.Evictions)
	require.Equal(t, int64(4*im.ns), s.Bytes)
	require.Zero(t, s.OverBudget)
	require.Zero(t, s.WritebacksTotal())
}

func TestReclaimWritesDirtyThenEvicts(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, _ := im.open(t, rec, im.testOptions(4))
	addrs := im.dirtyLeaves(t, c, 3, 0, 2, 1)

	eb, err := c.Get(expect(im.tree(t, format.FSTreeObjectID)))
	require.NoError(t, err)
	defer c.Release(eb)

	// Address order: the lowest dirty block, free(0), went out.
	require.False(t, c.cached(im.free(0)))
	for _, a := range []uint64{im.free(1), im.free(2), im.free(3)} {
		require.True(t, c.cached(a))
	}
	b := im.requireWritten(t, im.free(0))
	require.Equal(t, uint64(2), format.Header(b).Generation())
	require.Len(t, rec.recorded(), 1)

	s := c.Stats()
	require.Equal(t, uint64(1), s.Writebacks[CauseReclaim])
	require.Equal(t, uint64(1), s.Evictions)
	require.Equal(t, int64(3*im.ns), s.DirtyBytes)
	require.Equal(t, int64(4*im.ns), s.Bytes)
	require.Zero(t, s.OverBudget)
	require.Len(t, addrs, 4)

	// It reads back through the cache from disk, WRITTEN and verified.
	back, err := c.Get(checker.ExpectAt(im.free(0)))
	require.NoError(t, err)
	require.True(t, back.Header().Written())
	c.Release(back)
}

func TestReclaimSkipsReferencedLockedPinned(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, _ := im.open(t, rec, im.testOptions(4))

	referenced := im.newLeaf(t, c, im.free(0), 2) // dirty, reference kept
	locked := im.newLeaf(t, c, im.free(1), 2)     // dirty, unreferenced, locked
	c.Release(locked)
	locked.Lock()
	pinned := im.newLeaf(t, c, im.free(2), 2) // dirty, unreferenced, pinned
	pinned.Lock()
	pinned.BlockWriteback()
	pinned.Unlock()
	c.Release(pinned)
	clean, err := c.Get(expect(im.tree(t, format.RootTreeObjectID))) // clean, referenced
	require.NoError(t, err)

	fs, err := c.Get(expect(im.tree(t, format.FSTreeObjectID)))
	require.NoError(t, err, "over budget rather than deadlock")

	require.Empty(t, rec.recorded(), "nothing written")
	for _, x := range []*ExtentBuffer{referenced, locked, pinned, clean} {
		require.True(t, c.cached(x.Bytenr), "block %d evicted", x.Bytenr)
	}
	for _, x := range []*ExtentBuffer{referenced, locked, pinned} {
		require.True(t, x.Has(Dirty))
		require.False(t, x.Header().Written())
	}
	s := c.Stats()
	require.Equal(t, uint64(1), s.OverBudget)
	require.Equal(t, uint64(1), s.BlockedSkips)
	require.Equal(t, uint64(1), s.LockedSkips)
	require.Zero(t, s.Evictions)
	require.Equal(t, int64(5*im.ns), s.Bytes)

	// Once unlocked and unpinned, pressure writes them (the clean buffers
	// are still referenced, so only writeback can make room).
	locked.Unlock()
	pinned.Lock()
	pinned.UnblockWriteback()
	pinned.Unlock()
	eb, err := c.Get(expect(im.tree(t, format.ExtentTreeObjectID)))
	require.NoError(t, err)
	require.False(t, c.cached(locked.Bytenr))
	require.False(t, c.cached(pinned.Bytenr))
	require.Equal(t, uint64(1), c.Stats().OverBudget, "no new over-budget event")
	c.Release(eb)
	c.Release(clean)
	c.Release(fs)
	require.True(t, referenced.Has(Dirty), "still referenced: never written by reclaim")
	off, err := im.cmap.Physical(im.free(1), im.ns)
	require.NoError(t, err)
	require.Equal(t, []write{{off, 2 * int(im.ns)}}, rec.recorded(),
		"the formerly locked and pinned buffers, adjacent: one merged write")
	im.requireWritten(t, im.free(1))
	im.requireWritten(t, im.free(2))
	c.Release(referenced)
}

func TestOrderAddressVersusLRU(t *testing.T) {
	for _, tc := range []struct {
		order WritebackOrder
		want  int // free-block index written first
	}{{OrderAddress, 0}, {OrderLRU, 3}} {
		t.Run(tc.order.String(), func(t *testing.T) {
			im := memImage(t)
			opts := im.testOptions(4)
			opts.Order = tc.order
			c, _ := im.open(t, nil, opts)
			im.dirtyLeaves(t, c, 3, 1, 2, 0) // dirtied in this order: 3 is the oldest
			eb, err := c.Get(expect(im.tree(t, format.FSTreeObjectID)))
			require.NoError(t, err)
			c.Release(eb)
			for i := range 4 {
				require.Equal(t, i != tc.want, c.cached(im.free(i)), "block %d", i)
			}
			im.requireWritten(t, im.free(tc.want))
		})
	}
}

func TestLRUOrderFollowsRedirtying(t *testing.T) {
	im := memImage(t)
	opts := im.testOptions(4)
	opts.Order = OrderLRU
	c, _ := im.open(t, nil, opts)
	im.dirtyLeaves(t, c, 0, 1, 2, 3)
	eb := c.Find(im.free(0)) // re-dirty the oldest: it becomes the newest
	eb.Lock()
	c.MarkDirty(eb, 2)
	eb.Unlock()
	c.Release(eb)
	got, err := c.Get(expect(im.tree(t, format.FSTreeObjectID)))
	require.NoError(t, err)
	c.Release(got)
	require.True(t, c.cached(im.free(0)))
	require.False(t, c.cached(im.free(1)))
}

func TestFailedWriteIsNeverEvicted(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	rec.setFail(func(int64) bool { return true })
	c, _ := im.open(t, rec, im.testOptions(4))
	errs := &errRecorder{}
	c.OnWriteError(errs.record)
	im.dirtyLeaves(t, c, 0, 1, 2, 3)

	eb, err := c.Get(expect(im.tree(t, format.FSTreeObjectID)))
	require.NoError(t, err)
	c.Release(eb)
	// Reclaim tried every dirty buffer in turn; each failed and was kept.
	ebs, es := errs.calls()
	require.Len(t, ebs, 4)
	for i, eb := range ebs {
		require.Equal(t, im.free(i), eb.Bytenr)
		require.ErrorIs(t, es[i], errInjected)
		require.True(t, eb.Has(WriteErr))
		require.False(t, eb.Has(Writeback|Dirty))
		require.True(t, c.cached(eb.Bytenr), "its bytes exist nowhere else")
	}
	s := c.Stats()
	require.Equal(t, uint64(1), s.OverBudget)
	require.Equal(t, uint64(4), s.WriteErrors)
	require.Zero(t, s.Evictions)
	require.ErrorIs(t, c.Close(), ErrUnwritten)
}

func TestUsedCleanBuffersGoBeforeDirtyOnes(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(4))
	trees := im.res.Trees
	for i := range 2 { // two clean buffers, both hit since they were read
		eb, err := c.Get(expect(trees[i]))
		require.NoError(t, err)
		c.Release(eb)
		c.Release(c.Find(trees[i].Bytenr))
	}
	im.dirtyLeaves(t, c, 0, 1)
	eb, err := c.Get(expect(trees[2]))
	require.NoError(t, err)
	c.Release(eb)
	// The used clean buffers had a second chance, then the older went:
	// no dirty buffer was written while a clean one could go.
	s := c.Stats()
	require.Zero(t, s.WritebacksTotal())
	require.Equal(t, uint64(1), s.Evictions)
	require.False(t, c.cached(trees[0].Bytenr))
	require.True(t, c.cached(trees[1].Bytenr))
}

func TestReclaimGoesBelowBudgetBySlack(t *testing.T) {
	im := memImage(t)
	const nodes = 128 // slack: 128/64 = 2 nodes
	c, _ := im.open(t, nil, im.testOptions(nodes))
	im.dirtyLeaves(t, c, seq(0, nodes)...)
	require.NoError(t, c.FlushAll(CauseCommit))
	eb, err := c.Create(im.free(nodes))
	require.NoError(t, err)
	c.Release(eb)
	s := c.Stats()
	require.Equal(t, uint64(3), s.Evictions, "down to the budget minus the slack, then one more")
	require.Equal(t, int64(nodes-2)*int64(im.ns), s.Bytes)
	for i := range 3 {
		require.False(t, c.cached(im.free(i)), "the least recently used: block %d", i)
	}
	eb, err = c.Create(im.free(nodes + 1)) // fits: no reclaim
	require.NoError(t, err)
	c.Release(eb)
	require.Equal(t, uint64(3), c.Stats().Evictions)
}

func TestDirtyHeapStaysCompact(t *testing.T) {
	for _, order := range []WritebackOrder{OrderAddress, OrderLRU} {
		t.Run(order.String(), func(t *testing.T) {
			im := memImage(t)
			opts := im.testOptions(64)
			opts.Order = order
			c, _ := im.open(t, nil, opts)
			im.dirtyLeaves(t, c, seq(0, 8)...)
			for round := range 500 { // re-dirty, write and dirty again
				i := round % 8
				eb := c.Find(im.free(i))
				eb.Lock()
				c.MarkDirty(eb, 2)
				eb.Unlock()
				if round%3 == 0 {
					require.NoError(t, c.WriteDirty([]*ExtentBuffer{eb}, CauseCommit))
				}
				c.Release(eb)
			}
			c.mu.Lock()
			h := &c.mu.dirty
			n, live := len(h.es), h.live
			c.mu.Unlock()
			require.Equal(t, int(c.Stats().DirtyBytes/int64(im.ns)), live)
			require.LessOrEqual(t, n, 2*live+64, "stale entries are compacted")
			// The order is still right: reclaim writes the first in order.
			c.mu.Lock()
			e, ok := h.pop()
			require.True(t, ok)
			h.push(e)
			c.mu.Unlock()
			for _, eb := range c.mu.index.Values() {
				if !eb.Has(Dirty) {
					continue
				}
				if order == OrderAddress {
					require.LessOrEqual(t, e.eb.Bytenr, eb.Bytenr)
				} else {
					require.LessOrEqual(t, e.eb.dirtySeq, eb.dirtySeq)
				}
			}
		})
	}
}

// seq returns from, from+1, ..., to-1.
func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestArenaRecycles: evicted and discarded buffers give their slots back
// (no new mapping however many go through), a reused slot is zeroed for
// Create, and an evicted buffer has no bytes left to read by mistake.
func TestArenaRecycles(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(8))
	var first *ExtentBuffer
	want := map[uint64]uint64{} // address → stamp on disk
	for round := range 100 {
		addr := im.free(round % 16)
		eb := im.newLeaf(t, c, addr, 2)
		eb.Lock()
		stamp(t, eb, uint64(round))
		if round%5 == 4 { // freed by the transaction that made it
			c.Discard(eb)
		} else {
			want[addr] = uint64(round)
		}
		eb.Unlock()
		if round == 0 {
			first = eb
		}
		c.Release(eb)
		require.NoError(t, c.FlushAll(CauseCommit))
	}
	require.Nil(t, first.Data(), "evicted: its slot went to another buffer")
	c.arena.maps.mu.Lock()
	require.Len(t, c.arena.maps.m, 1, "slots are reused")
	c.arena.maps.mu.Unlock()
	eb, err := c.Create(im.free(40))
	require.NoError(t, err)
	require.Equal(t, make([]byte, im.ns), eb.Data(), "a reused slot is zeroed")
	c.Release(eb)
	// What was written is intact on disk and in the cache.
	for addr, v := range want {
		require.Equal(t, v, stampOf(t, im.requireWritten(t, addr)), "block %d", addr)
		eb, err := c.Get(checker.ExpectAt(addr))
		require.NoError(t, err)
		require.Equal(t, v, stampOf(t, eb.Data()), "block %d", addr)
		c.Release(eb)
	}
}
