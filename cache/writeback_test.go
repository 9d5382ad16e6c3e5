package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
)

func TestWriteDirtySortsAndMerges(t *testing.T) {
	for _, depth := range []int{1, DefaultWritebackDepth} {
		t.Run(fmt.Sprintf("depth=%d", depth), func(t *testing.T) { testWriteDirtySortsAndMerges(t, depth) })
	}
}

// testWriteDirtySortsAndMerges: with a depth of 1 the runs are written in
// address order; deeper, they are the same writes in any order.
func testWriteDirtySortsAndMerges(t *testing.T, depth int) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	opts := im.testOptions(64)
	opts.WritebackDepth = depth
	c, _ := im.open(t, rec, opts)
	idx := []int{0, 1, 2, 4, 5, 7}
	var ebs []*ExtentBuffer
	for _, i := range idx {
		ebs = append(ebs, im.newLeaf(t, c, im.free(i), 2))
	}
	clean, err := c.Create(im.free(9)) // not dirty: not written
	require.NoError(t, err)
	in := append([]*ExtentBuffer{clean, ebs[0]}, ebs...) // a duplicate too
	rand.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })

	require.NoError(t, c.WriteDirty(in, CauseCommit))

	ns := int(im.ns)
	phys := func(i int) int64 { off, _ := im.cmap.Physical(im.free(i), im.ns); return off }
	want := []write{{phys(0), 3 * ns}, {phys(4), 2 * ns}, {phys(7), ns}}
	if depth == 1 {
		require.Equal(t, want, rec.recorded())
	} else {
		require.ElementsMatch(t, want, rec.recorded())
	}
	for _, i := range idx {
		b := im.requireWritten(t, im.free(i))
		require.Equal(t, im.free(i), format.Header(b).Bytenr())
	}
	for _, eb := range ebs {
		require.False(t, eb.Has(Dirty|Writeback|WriteErr))
		require.True(t, eb.Header().Written(), "WRITTEN is set in memory too")
		c.Release(eb)
	}
	c.Release(clean)
	s := c.Stats()
	require.Equal(t, uint64(6), s.Writebacks[CauseCommit])
	require.Equal(t, uint64(3), s.WriteIOs)
	require.Equal(t, uint64(6*ns), s.BytesWritten)
	require.Zero(t, s.DirtyBytes)

	require.NoError(t, c.WriteDirty(ebs, CauseFsync), "nothing dirty: nothing to do")
	require.Len(t, rec.recorded(), 3)
}

func TestWriteDirtyNeverWaitsHoldingALock(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, _ := im.open(t, rec, im.testOptions(64))
	var ebs []*ExtentBuffer
	for i := range 4 {
		eb := im.newLeaf(t, c, im.free(i), 2)
		defer c.Release(eb)
		ebs = append(ebs, eb)
	}
	ebs[2].Lock() // held elsewhere: the run stops before it
	done := make(chan error)
	go func() { done <- c.WriteDirty(ebs, CauseCommit) }()
	require.Eventually(t, func() bool { return len(rec.recorded()) == 1 }, waitLimit, time.Millisecond,
		"blocks 0-1 are written before waiting for block 2")
	for _, eb := range ebs[:2] {
		require.Eventually(t, func() bool {
			if !eb.TryLock() {
				return false
			}
			eb.Unlock()
			return true
		}, waitLimit, time.Millisecond, "block %d is unlocked while block 2 is waited for", eb.Bytenr)
	}
	select {
	case <-done:
		t.Fatal("WriteDirty returned while block 2 was locked")
	case <-time.After(20 * time.Millisecond):
	}
	require.Len(t, rec.recorded(), 1)
	ebs[2].Unlock()
	require.NoError(t, <-done)
	ns := int(im.ns)
	phys0, _ := im.cmap.Physical(im.free(0), im.ns)
	require.Equal(t, []write{{phys0, 2 * ns}, {phys0 + int64(2*ns), 2 * ns}}, rec.recorded())
}

func TestPinnedBufferStaysDirtyUntilUnblocked(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, _ := im.open(t, rec, im.testOptions(64))
	eb := im.newLeaf(t, c, im.free(0), 2)
	eb.Lock()
	eb.BlockWriteback()
	eb.Unlock()

	err := c.WriteDirty([]*ExtentBuffer{eb}, CauseCommit)
	require.ErrorIs(t, err, ErrWritebackBlocked)
	require.ErrorIs(t, c.FlushAll(CauseCommit), ErrWritebackBlocked)
	require.True(t, eb.Has(Dirty))
	require.False(t, eb.Header().Written())
	require.Empty(t, rec.recorded())
	require.Equal(t, uint64(2), c.Stats().BlockedSkips)

	eb.Lock()
	eb.UnblockWriteback()
	eb.Unlock()
	require.NoError(t, c.WriteDirty([]*ExtentBuffer{eb}, CauseCommit))
	require.False(t, eb.Has(Dirty))
	im.requireWritten(t, im.free(0))
	c.Release(eb)
}

func TestWriteErrorSetsWriteErrAndCallsBack(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	bad, _ := im.cmap.Physical(im.free(1), im.ns)
	rec.setFail(func(off int64) bool { return off == bad })
	c, _ := im.open(t, rec, im.testOptions(64))
	errs := &errRecorder{}
	c.OnWriteError(errs.record)
	good := im.newLeaf(t, c, im.free(0), 2)
	failing := im.newLeaf(t, c, im.free(1), 7)
	defer c.Release(good)
	defer c.Release(failing)

	err := c.WriteDirty([]*ExtentBuffer{good}, CauseCommit)
	require.NoError(t, err)
	err = c.WriteDirty([]*ExtentBuffer{failing}, CauseFsync)
	require.ErrorIs(t, err, errInjected)
	require.Contains(t, err.Error(), "fsync writeback: 1 buffers failed")
	require.True(t, failing.Has(WriteErr))
	require.False(t, failing.Has(Dirty|Writeback))
	require.False(t, good.Has(WriteErr))

	ebs, es := errs.calls()
	require.Equal(t, []*ExtentBuffer{failing}, ebs)
	require.ErrorIs(t, es[0], errInjected)
	require.Equal(t, uint64(7), ebs[0].DirtyTransid(), "the owner finds its transaction")
	require.Equal(t, uint64(1), c.Stats().WriteErrors)

	// A commit that asks again learns of the earlier failure.
	require.ErrorIs(t, c.WriteDirty([]*ExtentBuffer{failing}, CauseCommit), ErrWriteFailed)
	require.ErrorIs(t, c.Close(), ErrUnwritten)

	// Re-dirtied and written successfully, WRITE_ERR is cleared.
	rec.setFail(nil)
	failing.Lock()
	c.MarkDirty(failing, 7)
	failing.Unlock()
	require.NoError(t, c.WriteDirty([]*ExtentBuffer{failing}, CauseCommit))
	require.False(t, failing.Has(WriteErr))
	im.requireWritten(t, im.free(1))
	require.NoError(t, c.Close())
	_, es = errs.calls()
	require.Len(t, es, 1, "the earlier failure is not reported twice")
}

func TestWriteTimeCheckerFailureDoesNotWrite(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, log := im.open(t, rec, im.testOptions(64))
	errs := &errRecorder{}
	c.OnWriteError(errs.record)
	c.SetLastCommitted(5)
	// Generation 5 is not newer than the last commit: rule #24.
	eb := im.newLeaf(t, c, im.free(0), 5)
	defer c.Release(eb)

	err := c.WriteDirty([]*ExtentBuffer{eb}, CauseCommit)
	var ce *checker.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, checker.RuleWriteGen, ce.Rule)
	require.Empty(t, rec.recorded(), "the block is not written")
	require.True(t, eb.Has(WriteErr))
	require.False(t, eb.Has(Writeback))
	require.Contains(t, log.String(), "BUG")
	require.Contains(t, log.String(), "write time tree block corruption detected")
	require.Contains(t, log.String(), fmt.Sprintf("block %d", im.free(0)))
	_, es := errs.calls()
	require.Len(t, es, 1)
	require.True(t, errors.As(es[0], &ce))
	s := c.Stats()
	require.Equal(t, uint64(1), s.CheckFailures)
	require.Equal(t, uint64(1), s.WriteErrors)
	require.Zero(t, s.WritebacksTotal())
	require.NotEqual(t, im.onDisk(t, im.free(0)), eb.Data())
}

func TestWriteTimeCheckerCatchesBadStructure(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, _ := im.open(t, rec, im.testOptions(64))
	eb := im.newLeaf(t, c, im.free(0), 2)
	defer c.Release(eb)
	eb.Lock()
	l := eb.Leaf() // swap the keys of the two items: bad key order
	k0, k1 := l.ItemKey(0), l.ItemKey(1)
	l.SetItemKey(0, k1)
	l.SetItemKey(1, k0)
	eb.Unlock()
	var ce *checker.Error
	require.ErrorAs(t, c.FlushAll(CauseCommit), &ce)
	require.Equal(t, checker.RuleKeyOrder, ce.Rule)
	require.Empty(t, rec.recorded())
}

// TestLastCommittedBoundsItemGenerations: after commits, items carry newer
// transids; SetLastCommitted moves the bound both checkers use.
func TestLastCommittedBoundsItemGenerations(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(16))
	eb := im.newLeaf(t, c, im.free(0), 6)
	eb.Lock()
	editInode(t, eb, func(ii *format.InodeItem) { ii.Transid = 6 })
	eb.Unlock()
	var ce *checker.Error
	require.ErrorAs(t, c.WriteDirty([]*ExtentBuffer{eb}, CauseCommit), &ce)
	require.Equal(t, checker.RuleInodeItem, ce.Rule, "transid 6 is beyond super generation 1 + 1")

	c.SetLastCommitted(5)
	eb.Lock()
	c.MarkDirty(eb, 6)
	eb.Unlock()
	require.NoError(t, c.WriteDirty([]*ExtentBuffer{eb}, CauseCommit))
	c.Release(eb)

	fresh, _ := im.open(t, nil, im.testOptions(16))
	_, err := fresh.Get(checker.ExpectAt(im.free(0)))
	require.ErrorAs(t, err, &ce)
	require.Equal(t, checker.RuleInodeItem, ce.Rule)
	fresh.SetLastCommitted(5)
	got, err := fresh.Get(checker.ExpectAt(im.free(0)))
	require.NoError(t, err)
	fresh.Release(got)
}

// TestWritebackStateDuringIO looks at a buffer while its bytes are being
// written: locked, DIRTY cleared, WRITEBACK set, and the bytes handed to the
// device carry WRITTEN and a valid checksum.
func TestWritebackStateDuringIO(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, _ := im.open(t, rec, im.testOptions(16))
	eb := im.newLeaf(t, c, im.free(0), 2)
	defer c.Release(eb)
	seen := false
	rec.hook = func(p []byte) {
		seen = true
		require.False(t, eb.TryRLock(), "the lock is held across the write")
		require.True(t, eb.Has(Writeback))
		require.False(t, eb.Has(Dirty))
		require.True(t, format.Header(p).Written())
		require.True(t, im.ctx.CsumType.VerifyBlockCsum(p))
	}
	require.NoError(t, c.WriteDirty([]*ExtentBuffer{eb}, CauseFsync))
	require.True(t, seen)
	require.False(t, eb.Has(Writeback))
	require.True(t, eb.TryLock(), "unlocked after the write")
	eb.Unlock()
	require.Equal(t, uint64(1), c.Stats().Writebacks[CauseFsync])
	require.ErrorContains(t, c.WriteDirty(nil, Cause(9)), "unknown cause 9")
}

// gateDevice holds every metadata write until release is closed, counting
// the writes in flight.
type gateDevice struct {
	recDevice
	release  chan struct{}
	inflight atomic.Int32
	most     atomic.Int32 // the most writes in flight at once
}

func (d *gateDevice) WriteAt(p []byte, off int64, k disk.Kind) error {
	n := d.inflight.Add(1)
	for {
		m := d.most.Load()
		if n <= m || d.most.CompareAndSwap(m, n) {
			break
		}
	}
	<-d.release
	defer d.inflight.Add(-1)
	return d.recDevice.WriteAt(p, off, k)
}

// TestWritebackDepthBoundsWritesInFlight: runs are written concurrently,
// never more than WritebackDepth at once, and WriteDirty returns only when
// every one has completed.
func TestWritebackDepthBoundsWritesInFlight(t *testing.T) {
	im := memImage(t)
	gate := &gateDevice{recDevice: recDevice{Device: im.dev}, release: make(chan struct{})}
	opts := im.testOptions(64)
	opts.WritebackDepth = 3
	c, _ := im.open(t, gate, opts)
	var ebs []*ExtentBuffer
	for i := range 8 { // every other block: 8 runs of one block
		eb := im.newLeaf(t, c, im.free(2*i), 2)
		defer c.Release(eb)
		ebs = append(ebs, eb)
	}
	done := make(chan error)
	go func() { done <- c.WriteDirty(ebs, CauseCommit) }()
	require.Eventually(t, func() bool { return gate.inflight.Load() == 3 }, waitLimit, time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("WriteDirty returned with writes in flight: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	require.Equal(t, int32(3), gate.inflight.Load(), "no fourth write while three are in flight")
	close(gate.release)
	require.NoError(t, <-done)
	require.Equal(t, int32(3), gate.most.Load())
	require.Zero(t, gate.inflight.Load())
	require.Len(t, gate.recorded(), 8)
	for _, eb := range ebs {
		require.False(t, eb.Has(Dirty|Writeback|WriteErr))
		im.requireWritten(t, eb.Bytenr)
	}
}

// TestWritebackMaxIOSplitsRuns: a run of adjacent blocks is cut into
// writes of at most WritebackMaxIO bytes.
func TestWritebackMaxIOSplitsRuns(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	opts := im.testOptions(64)
	opts.WritebackDepth = 1
	opts.WritebackMaxIO = 2*int64(im.ns) + 100 // two nodes and change: two nodes
	c, _ := im.open(t, rec, opts)
	var ebs []*ExtentBuffer
	for i := range 5 {
		eb := im.newLeaf(t, c, im.free(i), 2)
		defer c.Release(eb)
		ebs = append(ebs, eb)
	}
	require.NoError(t, c.WriteDirty(ebs, CauseCommit))
	ns := int(im.ns)
	phys0, _ := im.cmap.Physical(im.free(0), im.ns)
	require.Equal(t, []write{{phys0, 2 * ns}, {phys0 + int64(2*ns), 2 * ns}, {phys0 + int64(4*ns), ns}},
		rec.recorded())
	for i := range 5 {
		im.requireWritten(t, im.free(i))
	}
}

// TestConcurrentWriteErrorsReportedInAddressOrder: of runs written
// concurrently, the failed ones get WRITE_ERR, the others are written, and
// failures reach OnWriteError and the error lowest address first.
func TestConcurrentWriteErrorsReportedInAddressOrder(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	bad := map[int64]bool{}
	for _, i := range []int{6, 2} {
		off, _ := im.cmap.Physical(im.free(2*i), im.ns)
		bad[off] = true
	}
	rec.setFail(func(off int64) bool { return bad[off] })
	opts := im.testOptions(64)
	opts.WritebackDepth = 4
	c, _ := im.open(t, rec, opts)
	errs := &errRecorder{}
	c.OnWriteError(errs.record)
	var ebs []*ExtentBuffer
	for i := range 8 {
		eb := im.newLeaf(t, c, im.free(2*i), 2)
		defer c.Release(eb)
		ebs = append(ebs, eb)
	}
	err := c.WriteDirty(ebs, CauseCommit)
	require.ErrorIs(t, err, errInjected)
	require.Contains(t, err.Error(), fmt.Sprintf("2 buffers failed, first: block %d:", ebs[2].Bytenr))
	got, es := errs.calls()
	require.Equal(t, []*ExtentBuffer{ebs[2], ebs[6]}, got)
	require.Len(t, es, 2)
	for i, eb := range ebs {
		failed := i == 2 || i == 6
		require.Equal(t, failed, eb.Has(WriteErr), "block %d", i)
		require.False(t, eb.Has(Dirty|Writeback))
		if !failed {
			im.requireWritten(t, eb.Bytenr)
		}
	}
	require.Equal(t, uint64(2), c.Stats().WriteErrors)
	require.Equal(t, uint64(8), c.Stats().WriteIOs)
	require.ErrorIs(t, c.Close(), ErrUnwritten)
	rec.setFail(nil)
	require.NoError(t, c.FlushAll(CauseCommit), "nothing dirty: failed buffers are not rewritten unasked")
}

// TestWriteDirtyDeviceCrash: power is lost in the middle of a commit's
// writeback. The blocks written before stay on disk, every later one gets
// WRITE_ERR and reaches OnWriteError, and the error is an EIO.
func TestWriteDirtyDeviceCrash(t *testing.T) {
	im := memImage(t)
	faults := disk.NewFaultDevice(im.dev)
	opts := im.testOptions(64)
	opts.WritebackDepth = 4
	c, _ := im.open(t, faults, opts)
	errs := &errRecorder{}
	c.OnWriteError(errs.record)
	var ebs []*ExtentBuffer
	for i := range 8 { // every other block: 8 writes
		eb := im.newLeaf(t, c, im.free(2*i), 2)
		defer c.Release(eb)
		ebs = append(ebs, eb)
	}
	faults.CrashAfterWrites(3)
	err := c.WriteDirty(ebs, CauseCommit)
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, err, disk.ErrInjected)
	require.True(t, faults.Crashed())
	failed, _ := errs.calls()
	require.Len(t, failed, 5)
	written := 0
	for _, eb := range ebs {
		require.False(t, eb.Has(Dirty|Writeback))
		if eb.Has(WriteErr) {
			require.Contains(t, failed, eb)
			require.False(t, format.Header(im.onDisk(t, eb.Bytenr)).Written(), "block %d reached the disk", eb.Bytenr)
			continue
		}
		im.requireWritten(t, eb.Bytenr)
		written++
	}
	require.Equal(t, 3, written)
	require.ErrorIs(t, c.Close(), ErrUnwritten)
}
