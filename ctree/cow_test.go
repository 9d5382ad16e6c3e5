package ctree

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/cache"
	"cowfs/disk/format"
)

// buildTree inserts n items of 40 bytes and commits.
func buildTree(t *testing.T, h *harness, n int) model {
	t.Helper()
	m := model{}
	for i := range n {
		d := testData(i, 1, 40)
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), d))
		m[i] = d
	}
	require.NoError(t, h.tt.commit(h.c))
	return m
}

// cowSearch runs one COW search for key i and returns the figures it added.
func cowSearch(t *testing.T, h *harness, i int) Stats {
	t.Helper()
	before := h.root.Stats()
	var p Path
	found, err := SearchSlot(h.tt, h.root, testKey(i), &p, 0, true)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, WriteLocked, p.Lock(0))
	p.Release()
	return h.root.Stats().Sub(before)
}

// TestCOWAndReCOW follows one path through the COW rules: a committed path
// is COWed once per level; the copies are not COWed again while unwritten;
// once writeback has set WRITTEN they are, and those COWs are re-COWs (the
// amplification of docs/problem.md); ForceCOW COWs regardless.
func TestCOWAndReCOW(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	buildTree(t, h, 4000)
	height := h.root.Level() + 1
	require.GreaterOrEqual(t, height, 2)
	oldRoot := h.root.Bytenr()

	d := cowSearch(t, h, 1234)
	require.Equal(t, uint64(height), d.TotalCOWs(), "first COW search copies every level")
	require.Zero(t, d.TotalReCOWs())
	require.Equal(t, uint64(1), d.Restarts[RestartWriteLevel], "the root COW needs its write lock")
	require.Equal(t, uint64(height), d.MaxSearchCOWs)
	require.NotEqual(t, oldRoot, h.root.Bytenr(), "root moved")
	require.Equal(t, h.tt.Transid(), h.root.Generation())

	d = cowSearch(t, h, 1234)
	require.Zero(t, d.TotalCOWs(), "own unwritten blocks are modified in place")

	require.NoError(t, h.c.FlushAll(cache.CauseReclaim)) // writeback inside the transaction
	d = cowSearch(t, h, 1234)
	require.Equal(t, uint64(height), d.TotalCOWs())
	require.Equal(t, uint64(height), d.TotalReCOWs(), "WRITTEN blocks of this transaction are re-COWed")
	require.Equal(t, 1.0, d.ReCOWRatio())

	h.root.ForceCOW.Store(true)
	d = cowSearch(t, h, 1234)
	require.Equal(t, uint64(height), d.TotalCOWs(), "ForceCOW copies own blocks too")
	require.Equal(t, uint64(height), d.TotalReCOWs())
	h.root.ForceCOW.Store(false)
	require.NoError(t, Verify(h.root))
	require.NoError(t, h.tt.commit(h.c))
}

// TestRestartNotCached opens the tree with a fresh cache: every level below
// the root is read by a restart, without locks held.
func TestRestartNotCached(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	m := buildTree(t, h, 4000)
	h.reopen(t, 64<<20)
	before := h.root.Stats()
	got, err := Lookup(h.root, testKey(2500))
	require.NoError(t, err)
	require.Equal(t, m[2500], got)
	d := h.root.Stats().Sub(before)
	require.Equal(t, uint64(h.root.Level()), d.Restarts[RestartNotCached])
	require.Zero(t, d.TotalCOWs())
}

// TestChargeFailure exhausts the reservation mid-operation: the error comes
// back and the tree stays valid.
func TestChargeFailure(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	m := buildTree(t, h, 3000)
	h.tt.limit = 1
	err := InsertItem(h.tt, h.root, testKey(5000), make([]byte, 10))
	require.ErrorIs(t, err, errTestNoSpace)
	require.NoError(t, Verify(h.root))
	h.tt.limit = 0
	m.check(t, h.root)
}

func TestPolicyOptions(t *testing.T) {
	p, err := ParsePolicy("always")
	require.NoError(t, err)
	require.Equal(t, PolicyAlways, p)
	require.Equal(t, "always", p.String())
	_, err = ParsePolicy("never")
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.ErrorIs(t, Options{Policy: Policy(9)}.Validate(), ErrInvalidOptions)
	require.ErrorIs(t, Options{HoldReadsAfter: -2}.Validate(), ErrInvalidOptions)
	require.NoError(t, DefaultOptions().Validate())
	require.Equal(t, "cow-policy=always hold-reads-after=8", DefaultOptions().String())
}

func TestKeySuccPred(t *testing.T) {
	cases := []format.Key{{}, {ObjectID: 1}, {ObjectID: 5, Type: 3, Offset: ^uint64(0)},
		{ObjectID: 5, Type: 255, Offset: ^uint64(0)}, MaxKey}
	for _, k := range cases {
		if s, ok := keySucc(k); ok {
			require.Equal(t, 1, s.Compare(k))
			p, ok := keyPred(s)
			require.True(t, ok)
			require.Equal(t, k, p)
		} else {
			require.Equal(t, MaxKey, k)
		}
	}
	_, ok := keyPred(format.Key{})
	require.False(t, ok)
}
