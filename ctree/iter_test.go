package ctree

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

func randomTree(t *testing.T, h *harness, r *rand.Rand, n, space int) (model, []int) {
	t.Helper()
	m := model{}
	for range n {
		i := r.IntN(space)
		if _, ok := m[i]; ok {
			continue
		}
		d := testData(i, 1, r.IntN(300))
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), d))
		m[i] = d
	}
	keys := make([]int, 0, len(m))
	for i := range m {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	return m, keys
}

// TestScanRanges compares range scans [start, end) with the model.
func TestScanRanges(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 5))
	h := newHarness(t, 64<<20, 4096, 64<<20)
	m, keys := randomTree(t, h, r, 5000, 20000)
	for range 200 {
		a, b := r.IntN(20100), r.IntN(20100)
		if a > b {
			a, b = b, a
		}
		var want []int
		for _, i := range keys {
			if i >= a && i < b {
				want = append(want, i)
			}
		}
		it := h.root.Scan(testKey(a), testKey(b))
		var got []int
		for it.Next() {
			k := it.Item().Key
			i := int(k.Offset / 3)
			require.Equal(t, testKey(i), k)
			require.True(t, bytes.Equal(m[i], it.Item().Data))
			got = append(got, i)
		}
		require.NoError(t, it.Err())
		require.Equal(t, want, got, "scan [%d, %d)", a, b)
	}
	it := h.root.Scan(testKey(10), testKey(10))
	require.False(t, it.Next(), "empty range")
}

// TestNextPrevLeaf walks every leaf forwards and backwards.
func TestNextPrevLeaf(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 6))
	h := newHarness(t, 64<<20, 4096, 64<<20)
	_, keys := randomTree(t, h, r, 5000, 20000)
	require.GreaterOrEqual(t, h.root.Level(), 1)

	var p Path
	_, err := SearchSlot(nil, h.root, format.Key{}, &p, 0, false)
	require.NoError(t, err)
	var fwd []format.Key
	leaves := 0
	for ok := true; ok; ok, err = NextLeaf(h.root, &p) {
		leaves++
		for s := p.Slot(0); s < p.Leaf().NrItems(); s++ {
			fwd = append(fwd, p.Leaf().ItemKey(s))
		}
	}
	require.NoError(t, err)
	require.Nil(t, p.Node(0))
	require.Len(t, fwd, len(keys))
	for j, i := range keys {
		require.Equal(t, testKey(i), fwd[j])
	}

	_, err = SearchSlot(nil, h.root, MaxKey, &p, 0, false)
	require.NoError(t, err)
	p.slots[0]--
	var back []format.Key
	for ok := true; ok; ok, err = PrevLeaf(h.root, &p) {
		for s := p.Slot(0); s >= 0; s-- {
			back = append(back, p.Leaf().ItemKey(s))
		}
		leaves--
	}
	require.NoError(t, err)
	require.Zero(t, leaves, "as many leaves backwards as forwards")
	slices.Reverse(back)
	require.Equal(t, fwd, back)
}
