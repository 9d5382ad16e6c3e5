package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk/format"
)

func TestWriteDirtySortsAndMerges(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, _ := im.open(t, rec, im.testOptions(64))
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
	require.Equal(t, []write{{phys(0), 3 * ns}, {phys(4), 2 * ns}, {phys(7), ns}}, rec.recorded())
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
	require.Eventually(t, func() bool { return len(rec.recorded()) == 1 }, 5*time.Second, time.Millisecond,
		"blocks 0-1 are written before waiting for block 2")
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
