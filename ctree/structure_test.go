package ctree

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

// TestGrowAndShrink grows a 4 KiB-node tree to at least three levels with
// random inserts, then deletes everything in random order: nodes merge and
// refill, and the root shrinks back to one empty leaf.
func TestGrowAndShrink(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 3))
	h := newHarness(t, 256<<20, 4096, 64<<20)
	const n = 16000
	m := model{}
	for j, i := range r.Perm(n) {
		d := testData(i, 1, r.IntN(16))
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), d))
		m[i] = d
		if j%4000 == 3999 {
			require.NoError(t, Verify(h.root))
			require.NoError(t, h.tt.commit(h.c))
		}
	}
	require.NoError(t, Verify(h.root))
	m.check(t, h.root)
	require.GreaterOrEqual(t, h.root.Level(), 2, "three levels")
	t.Logf("grown: level %d\n%s", h.root.Level(), h.root.Stats())

	for j, i := range r.Perm(n) {
		require.NoError(t, DeleteItem(h.tt, h.root, testKey(i)), "delete %v", testKey(i))
		delete(m, i)
		if j%2000 == 1999 {
			require.NoError(t, Verify(h.root), "after %d deletes", j+1)
			m.check(t, h.root)
			require.NoError(t, h.tt.commit(h.c))
		}
	}
	require.NoError(t, Verify(h.root))
	st := h.root.Stats()
	t.Logf("shrunk: level %d\n%s", h.root.Level(), st)
	require.Equal(t, 0, h.root.Level())
	require.NotZero(t, st.RootShrinks)
	require.NotZero(t, st.NodeMerges+st.NodeRefills)
	require.NotZero(t, st.LeafMerges)
	it := h.root.ScanFrom(format.Key{})
	require.False(t, it.Next())

	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root))
}

// TestLargeItems fills a leaf with small items, then inserts and grows
// maximum-size items in the middle: only a double split makes room.
func TestLargeItems(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	maxSize := format.MaxItemSize(4096)
	m := model{}
	for i := 0; i < 60; i += 2 {
		d := testData(i, 1, 100)
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), d))
		m[i] = d
	}
	require.Equal(t, 0, h.root.Level(), "one leaf so far")
	big := testData(31, 1, int(maxSize))
	require.NoError(t, InsertItem(h.tt, h.root, testKey(31), big))
	m[31] = big
	require.NoError(t, Verify(h.root))
	require.Equal(t, uint64(1), h.root.Stats().DoubleSplits)

	// Grow a middle item to the maximum: a double split in growth mode.
	var p Path
	require.NoError(t, ExtendItem(h.tt, h.root, &p, testKey(40), maxSize-100))
	copy(p.ItemData()[100:], testData(40, 2, int(maxSize-100)))
	m[40] = append(append([]byte(nil), m[40]...), testData(40, 2, int(maxSize-100))...)
	p.Release()
	require.NoError(t, Verify(h.root))
	require.Equal(t, uint64(2), h.root.Stats().DoubleSplits)

	require.ErrorIs(t, InsertItem(h.tt, h.root, testKey(33), make([]byte, maxSize+1)), ErrItemTooLarge)
	require.ErrorIs(t, ExtendItem(h.tt, h.root, &p, testKey(31), 1), ErrItemTooLarge)
	require.Nil(t, p.Node(0), "path released on error")
	require.ErrorIs(t, ExtendItem(h.tt, h.root, &p, testKey(1), 1), ErrNotFound)
	require.NoError(t, InsertItem(h.tt, h.root, testKey(35), nil), "empty item")
	m[35] = nil
	require.NoError(t, Verify(h.root))
	m.check(t, h.root)
	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root))
	m.check(t, h.root)
}

// TestExtendTruncate grows and shrinks items at their end and checks that
// their data and their neighbours' stay intact.
func TestExtendTruncate(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 4))
	h := newHarness(t, 64<<20, 4096, 64<<20)
	m := fillModel(t, h, r, 400, 64)
	for step := range 2000 {
		i := r.IntN(400)
		var p Path
		if r.IntN(2) == 0 {
			add := 1 + r.IntN(300)
			if len(m[i])+add > int(format.MaxItemSize(4096)) {
				continue
			}
			require.NoError(t, ExtendItem(h.tt, h.root, &p, testKey(i), uint32(add)))
			require.True(t, bytes.Equal(m[i], p.ItemData()[:len(m[i])]))
			tail := testData(i, uint64(step), add)
			copy(p.ItemData()[len(m[i]):], tail)
			m[i] = append(append([]byte(nil), m[i]...), tail...)
		} else {
			size := r.IntN(len(m[i]) + 1)
			require.NoError(t, TruncateItem(h.tt, h.root, &p, testKey(i), uint32(size)))
			require.True(t, bytes.Equal(m[i][:size], p.ItemData()))
			m[i] = m[i][:size:size]
		}
		p.Release()
		if step%500 == 499 {
			require.NoError(t, Verify(h.root))
			m.check(t, h.root)
		}
	}
	var p Path
	require.ErrorIs(t, TruncateItem(h.tt, h.root, &p, testKey(0), uint32(len(m[0])+1)), ErrInvalid)
	require.ErrorIs(t, TruncateItem(h.tt, h.root, &p, testKey(9999), 0), ErrNotFound)
	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root))
	m.check(t, h.root)
}

// TestBatchSpan rejects a batch that would straddle an existing key, in the
// same leaf or across leaves, and leaves no empty leaf behind.
func TestBatchSpan(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	m := model{}
	for i := 0; i < 4000; i += 2 {
		d := testData(i, 1, 30)
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), d))
		m[i] = d
	}
	require.GreaterOrEqual(t, h.root.Level(), 1)
	for _, i := range []int{101, 1999, 3001} {
		err := InsertItems(h.tt, h.root, []format.Key{testKey(i), testKey(i + 2)}, [][]byte{{1}, {2}})
		require.ErrorIs(t, err, ErrInvalid, "batch over %d", i+1)
	}
	// Across a leaf boundary: the last key of some leaf plus one.
	var p Path
	_, err := SearchSlot(nil, h.root, testKey(0), &p, 0, false)
	require.NoError(t, err)
	last := int(p.Leaf().ItemKey(p.Leaf().NrItems()-1).Offset / 3)
	p.Release()
	err = InsertItems(h.tt, h.root, []format.Key{testKey(last + 1), testKey(last + 3)}, [][]byte{{1}, {2}})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorIs(t, InsertItems(h.tt, h.root, []format.Key{testKey(7), testKey(5)}, [][]byte{nil, nil}), ErrInvalid)
	require.NoError(t, Verify(h.root))
	m.check(t, h.root)
	require.NoError(t, InsertItems(h.tt, h.root, []format.Key{testKey(last + 1)}, [][]byte{{9}}))
	m[last+1] = []byte{9}
	m.check(t, h.root)
}

// TestLowestLevel stops a search at a node.
func TestLowestLevel(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	buildTree(t, h, 3000)
	p := Path{LowestLevel: 1}
	defer p.Release()
	_, err := SearchSlot(nil, h.root, testKey(1500), &p, 0, false)
	require.NoError(t, err)
	require.Nil(t, p.Node(0))
	n := p.Node(1).Node()
	require.LessOrEqual(t, n.Key(p.Slot(1)).Compare(testKey(1500)), 0)
	require.Equal(t, ReadLocked, p.Lock(1))
	_, err = SearchSlot(h.tt, h.root, testKey(1500), &p, 10, true)
	require.ErrorIs(t, err, ErrInvalid)
}

// TestDeleteRebalance deletes a run of keys so that level-1 nodes fall
// below the fill threshold and are merged with or refilled from their
// neighbours.
func TestDeleteRebalance(t *testing.T) {
	h := newHarness(t, 256<<20, 4096, 64<<20)
	const n = 40000
	for i := range n {
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), testData(i, 1, 8)))
	}
	require.GreaterOrEqual(t, h.root.Level(), 2)
	for i := n / 4; i < n/2; i++ {
		require.NoError(t, DeleteItem(h.tt, h.root, testKey(i)))
	}
	require.NoError(t, Verify(h.root))
	st := h.root.Stats()
	t.Log(st)
	require.NotZero(t, st.NodeMerges+st.NodeRefills)
}
