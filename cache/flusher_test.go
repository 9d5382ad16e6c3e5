package cache

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// waitLimit bounds the waits for what must happen on its own (a timer, a
// goroutine): generous, so that only a real hang reaches it on a loaded
// machine. Nothing asserts on how long anything took.
const waitLimit = 2 * time.Minute

func TestFlusherFiresAtThreshold(t *testing.T) {
	im := memImage(t)
	opts := im.testOptions(64)
	opts.DirtyThreshold = 4 * int64(im.ns)
	c, _ := im.open(t, nil, opts)

	held := im.newLeaf(t, c, im.free(9), 2) // referenced: never written by the flusher
	im.dirtyLeaves(t, c, 0, 1, 2)
	// Dirty bytes reached 4 nodes: the flusher writes down to 2, and a
	// further pass finds nothing to do.
	c.flusher.pass()
	c.flusher.pass()
	s := c.Stats()
	require.Equal(t, uint64(2), s.Writebacks[CauseThreshold])
	require.Equal(t, 2*int64(im.ns), s.DirtyBytes)
	require.Zero(t, s.Writebacks[CauseReclaim])
	require.Zero(t, s.Evictions, "the flusher does not evict")
	require.True(t, held.Has(Dirty))
	im.requireWritten(t, im.free(0)) // address order
	im.requireWritten(t, im.free(1))
	require.True(t, c.cached(im.free(0)))
	c.Release(held)
}

func TestFlusherWokenByRelease(t *testing.T) {
	im := memImage(t)
	opts := im.testOptions(64)
	opts.DirtyThreshold = 2 * int64(im.ns)
	c, _ := im.open(t, nil, opts)
	a := im.newLeaf(t, c, im.free(0), 2)
	b := im.newLeaf(t, c, im.free(1), 2) // threshold reached, but both referenced
	c.flusher.pass()
	require.Zero(t, c.Stats().Writebacks[CauseThreshold])
	c.Release(a)
	c.Release(b)
	require.Eventually(t, func() bool {
		return c.Stats().Writebacks[CauseThreshold] >= 1
	}, waitLimit, time.Millisecond, "Release wakes the flusher")
}

func TestFlusherInterval(t *testing.T) {
	im := memImage(t)
	opts := im.testOptions(64)
	opts.DirtyThreshold = 2 * int64(im.ns)
	opts.FlushInterval = 5 * time.Millisecond
	c, _ := im.open(t, nil, opts)
	a := im.newLeaf(t, c, im.free(0), 2)
	b := im.newLeaf(t, c, im.free(1), 2)
	// Drop the references without Release, so nothing wakes the flusher:
	// only its period finds the buffers. The pass has seen the wake-ups of
	// newLeaf; drop one still pending.
	c.flusher.pass()
	select {
	case <-c.flusher.wakeCh:
	default:
	}
	a.refs.Add(-1)
	b.refs.Add(-1)
	require.Eventually(t, func() bool {
		return c.Stats().Writebacks[CauseThreshold] >= 1
	}, waitLimit, time.Millisecond)
}

func TestCloseStopsFlusher(t *testing.T) {
	im := memImage(t)
	opts := im.testOptions(64)
	opts.DirtyThreshold = int64(im.ns)
	c, _ := im.open(t, nil, opts)
	require.NoError(t, c.Close())
	im.dirtyLeaves(t, c, 0)
	c.flusher.pass() // returns at once: the flusher has stopped
	require.Zero(t, c.Stats().Writebacks[CauseThreshold], "no flusher after Close")
	require.ErrorIs(t, c.Close(), ErrUnwritten)
	require.NoError(t, c.FlushAll(CauseCommit))
	require.NoError(t, c.Close())
}

// With the default threshold (0: the budget) the flusher leaves dirty
// buffers alone while the cache has room for them, and wakes once every
// buffer of the budget is dirty.
func TestFlusherDefaultWaitsForBudget(t *testing.T) {
	im := memImage(t)
	opts := im.testOptions(8)
	opts.DirtyThreshold, opts.FlushInterval = 0, time.Millisecond
	c, _ := im.open(t, nil, opts)
	im.dirtyLeaves(t, c, 0, 1, 2, 3, 4, 5, 6)
	c.flusher.pass()
	require.Zero(t, c.Stats().Writebacks[CauseThreshold], "7 of 8 nodes dirty")
	im.dirtyLeaves(t, c, 7)
	c.flusher.pass()
	require.GreaterOrEqual(t, c.Stats().Writebacks[CauseThreshold], uint64(4), "8 of 8 dirty: down to half")
}
