package ctree

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

func TestInsertLookupSequential(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	m := model{}
	for i := range 3000 {
		d := testData(i, 1, i%50)
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), d), "insert %d", i)
		m[i] = d
	}
	require.NoError(t, Verify(h.root))
	m.check(t, h.root)
	require.GreaterOrEqual(t, h.root.Level(), 1)
	for _, i := range []int{0, 1, 1500, 2999} {
		got, err := Lookup(h.root, testKey(i))
		require.NoError(t, err)
		require.True(t, bytes.Equal(m[i], got))
	}
	_, err := Lookup(h.root, testKey(5000))
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, InsertItem(h.tt, h.root, testKey(7), nil), ErrExists)
	t.Log(h.root.Stats())
}

func TestInsertDeleteRandomSmall(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	h := newHarness(t, 64<<20, 4096, 64<<20)
	m := model{}
	for round := range 20 {
		for range 300 {
			i := r.IntN(2000)
			if _, ok := m[i]; ok {
				require.NoError(t, DeleteItem(h.tt, h.root, testKey(i)), "delete %d", i)
				delete(m, i)
				continue
			}
			d := testData(i, uint64(round), r.IntN(200))
			require.NoError(t, InsertItem(h.tt, h.root, testKey(i), d), "insert %d", i)
			m[i] = d
		}
		require.NoError(t, Verify(h.root), "round %d", round)
		m.check(t, h.root)
	}
	err := DeleteItem(h.tt, h.root, testKey(99999))
	require.True(t, errors.Is(err, ErrNotFound))
	_ = format.Key{}
}

// TestDeleteKeys: random ascending subsets of a multi-leaf tree, deleted
// in runs, against the model; a missing key fails with ErrNotFound.
func TestDeleteKeys(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 2))
	h := newHarness(t, 64<<20, 4096, 64<<20)
	m := fillModel(t, h, r, 3000, 60)
	for round := range 5 {
		var keys []format.Key
		for i := range 3000 {
			if _, ok := m[i]; ok && r.IntN(3) > 0 {
				keys = append(keys, testKey(i))
				delete(m, i)
			}
		}
		require.NoError(t, DeleteKeys(h.tt, h.root, keys), "round %d", round)
		require.NoError(t, Verify(h.root), "round %d", round)
		m.check(t, h.root)
	}
	require.ErrorIs(t, DeleteKeys(h.tt, h.root, []format.Key{testKey(99999)}), ErrNotFound)
}
