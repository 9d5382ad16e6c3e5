package ctree

import (
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/cache"
	"cowfs/disk"
	"cowfs/disk/format"
)

// Minimal reproductions of bugs found in ctree and cache while testing
// ctree, kept as regression tests now that both are fixed.

// gateDev holds the first metadata write after armed is set until gate is
// closed; started is closed when that write arrives.
type gateDev struct {
	*disk.MemDevice
	armed   atomic.Bool
	started chan struct{}
	gate    chan struct{}
	held    atomic.Int64 // physical offset of the held write
}

func (d *gateDev) WriteAt(p []byte, off int64, k disk.Kind) error {
	if k == disk.KindMeta && d.armed.CompareAndSwap(true, false) {
		d.held.Store(off)
		close(d.started)
		<-d.gate
	}
	return d.MemDevice.WriteAt(p, off, k)
}

// TestBugFlushAllSkipsWritebackInFlight: cache.FlushAll (commit) lists only
// buffers that are DIRTY when it starts. A buffer the flusher (or a
// reclaimer) has already taken — DIRTY cleared, WRITEBACK set, its write
// in flight — is not waited for, so FlushAll returns, and a commit goes on
// to SetLastCommitted and its superblock, while a block of the committing
// transaction is not on the device yet. A flusher write that starts
// (prepare, with the write-time checker) right after that SetLastCommitted
// is refused as "not newer than the last commit" and left WRITE_ERR (the
// "buffers with a failed write" seen in concurrent runs with flusher and
// commits).
func TestBugFlushAllSkipsWritebackInFlight(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	for i := range 600 {
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), testData(i, 1, 40)))
	}
	require.GreaterOrEqual(t, h.root.Level(), 1)
	require.NoError(t, h.tt.commit(h.c))
	bytenr, level, gen := h.root.Info()
	h.root.Close()
	require.NoError(t, h.c.Close())

	dev := &gateDev{MemDevice: h.img.dev, started: make(chan struct{}), gate: make(chan struct{})}
	o := cache.DefaultOptions()
	o.Budget, o.DirtyThreshold, o.FlushInterval = 64<<20, 4*4096, 0
	c, err := cache.New(dev, h.img.cmap, h.img.ctx, o)
	require.NoError(t, err)
	root, err := OpenRoot(h.img.env(c), testTreeID, bytenr, level, gen)
	require.NoError(t, err)
	defer root.Close()
	dev.armed.Store(true)
	// Three inserts into three leaves: the root and three leaves dirty;
	// the flusher takes unreferenced leaves and its write is held.
	for _, i := range []int{0, 300, 598} {
		k := testKey(i)
		k.Offset++ // between testKey(i) and testKey(i+1)
		require.NoError(t, InsertItem(h.tt, root, k, nil))
	}
	select {
	case <-dev.started:
	case <-time.After(waitLimit):
		t.Fatalf("the flusher did not write in %v", waitLimit)
	}
	done := make(chan error, 1)
	go func() { done <- c.FlushAll(cache.CauseCommit) }()
	select {
	case err := <-done:
		close(dev.gate)
		t.Fatalf("FlushAll returned (err %v) while the flusher's write at %d, of a block dirtied in the "+
			"transaction being committed, was still in flight (cache/writeback.go FlushAll)", err, dev.held.Load())
	case <-time.After(300 * time.Millisecond): // a bug can only hide under load, never appear
		close(dev.gate)
		require.NoError(t, <-done)
	}
	require.NoError(t, c.Close())
}

// TestBugDelItemsENOSPCAfterDelete: DelItems deletes the items, then, for a
// leaf left less than a quarter full, merges it into a neighbour
// (items.go DelItems -> balance.go mergeLeaf -> mergeInto). The merge COWs
// the neighbour (cowSibling), and when that Charge fails the error comes
// back from DelItems although the items are already gone: the caller sees
// a failed delete that happened. The merge is optional (a neighbour not
// cached or locked is skipped) and nothing has moved when cowSibling
// fails, so the failure can be a skip too (the kernel's btrfs_del_items
// likewise ignores ENOSPC from its leaf pushes).
func TestBugDelItemsENOSPCAfterDelete(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	for i := range 400 {
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), testData(i, 1, 40)))
	}
	require.Equal(t, 1, h.root.Level())
	// Sequential inserts leave full leaves: make room in the first leaf,
	// then empty the second one down to just above the merge threshold.
	var p Path
	_, err := SearchSlot(nil, h.root, testKey(0), &p, 0, false)
	require.NoError(t, err)
	first := p.Leaf().NrItems() // key numbers [first, ...) start the second leaf
	p.Release()
	for j := range first / 2 {
		require.NoError(t, DeleteItem(h.tt, h.root, testKey(j)))
	}
	i := first
	for ; ; i++ {
		_, err := SearchSlot(nil, h.root, testKey(i+1), &p, 0, false)
		require.NoError(t, err)
		used := leafUsed(p.Leaf())
		p.Release()
		if used-(format.ItemHeaderSize+40) < leafMergeBelow(4096) {
			break
		}
		require.NoError(t, DeleteItem(h.tt, h.root, testKey(i)))
	}
	require.NoError(t, h.tt.commit(h.c)) // the neighbour must be COWed again
	a := &ampTrans{testTrans: h.tt}
	a.reserve = 2 // the delete's search COWs the root and the leaf; the merge's COW fails
	err = DeleteItem(a, h.root, testKey(i))
	require.ErrorIs(t, err, syscall.ENOSPC, "the merge's charge failed")
	require.NoError(t, Verify(h.root))
	_, lerr := Lookup(h.root, testKey(i))
	require.NoError(t, lerr, "DeleteItem of %v returned %v, but the item is gone (ctree/items.go DelItems, balance.go mergeInto)", testKey(i), err)
}
