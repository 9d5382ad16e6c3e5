package cache

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
)

func TestGetReadsVerifiesAndCaches(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(64))
	for _, tr := range im.res.Trees {
		eb, err := c.Get(expect(tr))
		require.NoError(t, err, tr.Name)
		require.True(t, eb.Has(Uptodate))
		require.False(t, eb.Has(Dirty))
		require.Equal(t, im.onDisk(t, tr.Bytenr), eb.Data())
		require.Equal(t, int32(1), eb.Refs())
		again, err := c.Get(expect(tr))
		require.NoError(t, err)
		require.Same(t, eb, again)
		require.Equal(t, int32(2), eb.Refs())
		c.Release(eb)
		c.Release(again)
	}
	s := c.Stats()
	n := uint64(len(im.res.Trees))
	require.Equal(t, n, s.Misses)
	require.Equal(t, n, s.Hits)
	require.InDelta(t, 0.5, s.HitRatio(), 1e-9)
	require.Equal(t, int(n), s.Buffers)
	require.Equal(t, int64(n*im.ns), s.Bytes)
}

func TestGetCorruptBlockIsTypedErrorAndNotCached(t *testing.T) {
	im := memImage(t)
	tr := im.tree(t, format.FSTreeObjectID)
	off, err := im.cmap.Physical(tr.Bytenr, im.ns)
	require.NoError(t, err)
	mem := im.dev.(*disk.MemDevice)
	mem.Bytes()[off+200] ^= 0xff
	c, _ := im.open(t, nil, im.testOptions(8))

	eb, err := c.Get(expect(tr))
	require.Nil(t, eb)
	require.ErrorIs(t, err, format.ErrCorrupt)
	var ce *checker.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, checker.RuleLevelCsum, ce.Rule)
	require.Contains(t, err.Error(), "checksum verify failed")
	require.Nil(t, c.Find(tr.Bytenr), "a bad block is never cached")
	s := c.Stats()
	require.Zero(t, s.Buffers)
	require.Zero(t, s.Bytes)
	require.Equal(t, uint64(1), s.ReadErrors)

	mem.Bytes()[off+200] ^= 0xff // repaired: the next Get reads again
	eb, err = c.Get(expect(tr))
	require.NoError(t, err)
	c.Release(eb)
}

func TestGetChecksParentExpectations(t *testing.T) {
	im := memImage(t)
	tr := im.tree(t, format.FSTreeObjectID)
	c, _ := im.open(t, nil, im.testOptions(8))
	wrongKey := format.Key{ObjectID: 1}
	for _, tc := range []struct {
		name string
		edit func(*checker.Expect)
		rule int
	}{
		{"generation", func(e *checker.Expect) { e.Generation = 7 }, checker.RuleTransid},
		{"level", func(e *checker.Expect) { e.Level = 1 }, checker.RuleLevel},
		{"owner", func(e *checker.Expect) { e.Owner = format.ExtentTreeObjectID }, checker.RuleOwner},
		{"first key", func(e *checker.Expect) { e.FirstKey = &wrongKey }, checker.RuleFirstKey},
		{"bytenr", func(e *checker.Expect) { e.Bytenr = im.free(3) }, checker.RuleBytenr}, // zeroes there
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := expect(tr)
			tc.edit(&exp)
			_, err := c.Get(exp)
			var ce *checker.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.rule, ce.Rule, err.Error())
			require.False(t, c.cached(exp.Bytenr))
		})
	}
	require.Zero(t, c.Stats().Bytes)
}

func TestGetUnmappedAndIOErrors(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(8))
	_, err := c.Get(checker.ExpectAt(1 << 40))
	require.ErrorIs(t, err, disk.ErrUnmapped)
	require.False(t, errors.Is(err, format.ErrCorrupt))
	require.Zero(t, c.Stats().Bytes)

	bad, _ := im.open(t, failingReads{im.dev}, im.testOptions(8))
	_, err = bad.Get(expect(im.tree(t, format.FSTreeObjectID)))
	require.ErrorIs(t, err, errInjected)
	require.False(t, errors.Is(err, format.ErrCorrupt), "an I/O error is not corruption")
	require.Zero(t, bad.Stats().Buffers)
}

// failingReads fails every read.
type failingReads struct{ disk.Device }

func (failingReads) ReadAt([]byte, int64, disk.Kind) error { return errInjected }

func TestFindNeverReads(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(8))
	tr := im.tree(t, format.RootTreeObjectID)
	reads := im.dev.Stats().ReadOps[disk.KindMeta]
	require.Nil(t, c.Find(tr.Bytenr))
	require.Equal(t, reads, im.dev.Stats().ReadOps[disk.KindMeta])
	eb, err := c.Get(expect(tr))
	require.NoError(t, err)
	c.Release(eb)
	found := c.Find(tr.Bytenr)
	require.Same(t, eb, found)
	require.Equal(t, int32(1), found.Refs())
	c.Release(found)
	s := c.Stats()
	require.Equal(t, uint64(1), s.FindHits)
	require.Equal(t, uint64(1), s.FindMisses)
	require.Equal(t, uint64(1), s.Misses, "Find is not counted as a Get")
}

func TestCreate(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(8))
	eb, err := c.Create(im.free(0))
	require.NoError(t, err)
	require.True(t, eb.Has(Uptodate))
	require.False(t, eb.Has(Dirty))
	require.Equal(t, make([]byte, im.ns), eb.Data())
	require.Equal(t, int(im.ns), eb.Len())

	_, err = c.Create(im.free(0))
	require.ErrorIs(t, err, ErrInUse, "referenced")
	c.Release(eb)
	dirty := im.newLeaf(t, c, im.free(0), 2) // replaces the clean, unreferenced eb
	require.True(t, eb.Has(Stale))
	c.Release(dirty)
	_, err = c.Create(im.free(0))
	require.ErrorIs(t, err, ErrInUse, "dirty")
	require.NoError(t, c.FlushAll(CauseCommit))

	again, err := c.Create(im.free(0))
	require.NoError(t, err, "a clean unreferenced buffer is replaced")
	require.NotSame(t, dirty, again)
	require.True(t, dirty.Has(Stale))
	require.Equal(t, make([]byte, im.ns), again.Data())
	c.Release(again)
	require.Equal(t, int64(im.ns), c.Stats().Bytes)

	_, err = c.Create(im.free(1) + 512)
	require.ErrorContains(t, err, "not aligned")
	_, err = c.Create(1 << 40)
	require.ErrorIs(t, err, disk.ErrUnmapped)
	require.Equal(t, uint64(3), c.Stats().Creates)
}

func TestMarkDirtyAccounts(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(8))
	eb := im.newLeaf(t, c, im.free(0), 2)
	require.True(t, eb.Has(Dirty))
	require.Equal(t, uint64(2), eb.DirtyTransid())
	eb.Lock()
	c.MarkDirty(eb, 3) // again: counted once
	eb.Unlock()
	require.Equal(t, uint64(3), eb.DirtyTransid())
	require.Equal(t, int64(im.ns), c.Stats().DirtyBytes)
	c.Release(eb)
	require.NoError(t, c.FlushAll(CauseCommit))
	require.Zero(t, c.Stats().DirtyBytes)
}

func TestDiscardDropsWithoutWriting(t *testing.T) {
	im := memImage(t)
	rec := &recDevice{Device: im.dev}
	c, _ := im.open(t, rec, im.testOptions(8))
	eb := im.newLeaf(t, c, im.free(0), 2)
	eb.Lock()
	c.Discard(eb)
	eb.Unlock()
	require.False(t, eb.Has(Dirty))
	require.True(t, eb.Has(Stale))
	require.Nil(t, c.Find(im.free(0)))
	c.Release(eb)
	require.NoError(t, c.FlushAll(CauseCommit))
	require.Empty(t, rec.recorded())
	s := c.Stats()
	require.Zero(t, s.DirtyBytes)
	require.Zero(t, s.Bytes)
	require.Equal(t, uint64(1), s.Discards)
	require.NoError(t, c.Close())
	again, err := c.Create(im.free(0))
	require.NoError(t, err, "the address can be reused")
	c.Release(again)
}

func TestProgrammerBugsPanic(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(8))
	eb, err := c.Create(im.free(0))
	require.NoError(t, err)
	c.Release(eb)
	require.Panics(t, func() { c.Release(eb) })
	eb.refs.Store(0)
	eb2, err := c.Create(im.free(1))
	require.NoError(t, err)
	eb2.Lock()
	c.Discard(eb2)
	require.Panics(t, func() { c.MarkDirty(eb2, 2) })
	eb2.Unlock()
	require.Panics(t, func() { eb2.UnblockWriteback() })
}

func TestCloseWithDirtyBuffersErrors(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(8))
	im.dirtyLeaves(t, c, 0, 1)
	err := c.Close()
	require.ErrorIs(t, err, ErrUnwritten)
	require.Contains(t, err.Error(), "2 dirty")
	require.True(t, c.cached(im.free(0)), "nothing is dropped")
	require.NoError(t, c.FlushAll(CauseCommit))
	require.NoError(t, c.Close())
	im.requireWritten(t, im.free(0))
	im.requireWritten(t, im.free(1))
}

func TestRef(t *testing.T) {
	im := memImage(t)
	c, _ := im.open(t, nil, im.testOptions(8))
	eb, err := c.Create(im.free(0))
	require.NoError(t, err)
	require.Same(t, eb, c.Ref(eb))
	require.Equal(t, int32(2), eb.Refs())
	eb.Lock()
	c.Discard(eb)
	eb.Unlock()
	require.Same(t, eb, c.Ref(eb), "works on a discarded buffer")
	for range 3 {
		c.Release(eb)
	}
	require.Panics(t, func() { c.Ref(eb) })
	require.Zero(t, c.Stats().FindHits)
}
