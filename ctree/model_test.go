package ctree

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

// modelRun drives random operations on one tree against a model.
type modelRun struct {
	t    *testing.T
	h    *harness
	r    *rand.Rand
	m    model
	keys int // key numbers are drawn from [0, keys)
	ver  uint64
}

func (mr *modelRun) step() {
	defer mr.h.tt.endHandle() // one handle per operation (pin-handle's pins)
	switch x := mr.r.IntN(100); {
	case x < 40:
		mr.insert()
	case x < 46:
		mr.insertBatch()
	case x < 66:
		mr.delete()
	case x < 70:
		mr.deleteRun()
	case x < 78:
		mr.extend()
	case x < 86:
		mr.truncate()
	case x < 92:
		mr.overwrite()
	default:
		mr.lookup()
	}
}

func (mr *modelRun) insert() {
	i := mr.r.IntN(mr.keys)
	mr.ver++
	d := testData(i, mr.ver, itemSize(mr.r, mr.h.c.NodeSize()))
	err := InsertItem(mr.h.tt, mr.h.root, testKey(i), d)
	if _, ok := mr.m[i]; ok {
		require.ErrorIs(mr.t, err, ErrExists, "insert of existing %v", testKey(i))
		return
	}
	require.NoError(mr.t, err, "insert %v (%d bytes)", testKey(i), len(d))
	mr.m[i] = d
}

// insertBatch inserts 2..6 consecutive missing keys in one call.
func (mr *modelRun) insertBatch() {
	n := 2 + mr.r.IntN(5)
	i := mr.r.IntN(mr.keys - n)
	keys := make([]format.Key, n)
	datas := make([][]byte, n)
	for j := range n {
		if _, ok := mr.m[i+j]; ok {
			return
		}
		mr.ver++
		keys[j], datas[j] = testKey(i+j), testData(i+j, mr.ver, mr.r.IntN(200))
	}
	require.NoError(mr.t, InsertItems(mr.h.tt, mr.h.root, keys, datas), "batch at %v", keys[0])
	for j := range n {
		mr.m[i+j] = datas[j]
	}
}

func (mr *modelRun) delete() {
	i := mr.r.IntN(mr.keys)
	err := DeleteItem(mr.h.tt, mr.h.root, testKey(i))
	if _, ok := mr.m[i]; !ok {
		require.ErrorIs(mr.t, err, ErrNotFound)
		return
	}
	require.NoError(mr.t, err, "delete %v", testKey(i))
	delete(mr.m, i)
}

// deleteRun deletes up to 5 consecutive items of one leaf with one DelItems.
func (mr *modelRun) deleteRun() {
	var p Path
	defer p.Release()
	_, err := SearchSlot(mr.h.tt, mr.h.root, testKey(mr.r.IntN(mr.keys)), &p, -1, true)
	require.NoError(mr.t, err)
	l, slot := p.Leaf(), p.Slot(0)
	nr := min(1+mr.r.IntN(5), l.NrItems()-slot)
	if nr <= 0 {
		return
	}
	gone := make([]int, nr)
	for j := range nr {
		gone[j] = int(l.ItemKey(slot+j).Offset / 3)
	}
	require.NoError(mr.t, DelItems(mr.h.tt, mr.h.root, &p, slot, nr))
	for _, i := range gone {
		_, ok := mr.m[i]
		require.True(mr.t, ok, "deleted key %d was in the model", i)
		delete(mr.m, i)
	}
}

func (mr *modelRun) extend() {
	i := mr.r.IntN(mr.keys)
	var p Path
	old, ok := mr.m[i]
	room := int(format.MaxItemSize(mr.h.c.NodeSize())) - len(old)
	if !ok || room == 0 {
		err := ExtendItem(mr.h.tt, mr.h.root, &p, testKey(i), 1)
		if !ok {
			require.ErrorIs(mr.t, err, ErrNotFound)
		}
		p.Release()
		if ok { // grown past the maximum
			require.ErrorIs(mr.t, err, ErrItemTooLarge)
		}
		return
	}
	add := 1 + mr.r.IntN(min(room, 600))
	require.NoError(mr.t, ExtendItem(mr.h.tt, mr.h.root, &p, testKey(i), uint32(add)), "extend %v", testKey(i))
	d := p.ItemData()
	require.True(mr.t, bytes.Equal(old, d[:len(old)]), "extend kept the data")
	require.Equal(mr.t, make([]byte, add), d[len(old):], "extension is zeroed")
	mr.ver++
	tail := testData(i, mr.ver, add)
	copy(d[len(old):], tail)
	p.Release()
	mr.m[i] = append(append([]byte(nil), old...), tail...)
}

func (mr *modelRun) truncate() {
	i := mr.r.IntN(mr.keys)
	old, ok := mr.m[i]
	size := 0
	if len(old) > 0 {
		size = mr.r.IntN(len(old))
	}
	var p Path
	err := TruncateItem(mr.h.tt, mr.h.root, &p, testKey(i), uint32(size))
	p.Release()
	if !ok {
		require.ErrorIs(mr.t, err, ErrNotFound)
		return
	}
	require.NoError(mr.t, err)
	mr.m[i] = old[:size:size]
}

// overwrite rewrites an item's data in place through a COW search.
func (mr *modelRun) overwrite() {
	i := mr.r.IntN(mr.keys)
	var p Path
	defer p.Release()
	found, err := SearchSlot(mr.h.tt, mr.h.root, testKey(i), &p, 0, true)
	require.NoError(mr.t, err)
	_, ok := mr.m[i]
	require.Equal(mr.t, ok, found, "found %v", testKey(i))
	if !found {
		return
	}
	mr.ver++
	d := testData(i, mr.ver, len(p.ItemData()))
	copy(p.ItemData(), d)
	mr.m[i] = d
}

func (mr *modelRun) lookup() {
	i := mr.r.IntN(mr.keys)
	got, err := Lookup(mr.h.root, testKey(i))
	want, ok := mr.m[i]
	if !ok {
		require.True(mr.t, errors.Is(err, ErrNotFound), "lookup of missing %v: %v", testKey(i), err)
		return
	}
	require.NoError(mr.t, err)
	require.True(mr.t, bytes.Equal(want, got), "data of %v", testKey(i))
}

// TestModelRandom runs thousands of mixed operations (items of 0 to
// MaxItemSize bytes) against a map, verifying after every batch and
// committing every other one, with a cache small enough that reclaim writes
// back and evicts blocks the operations need (restarts, re-COWs). At the
// end a fresh cache reads the tree back from the device.
func TestModelRandom(t *testing.T) {
	t.Run("budget=16384KiB/policy=always", func(t *testing.T) { modelRandom(t, 4096*4096, PolicyAlways) })
	for _, p := range Policies() {
		t.Run(fmt.Sprintf("budget=192KiB/policy=%s", p), func(t *testing.T) { modelRandom(t, 48*4096, p) })
	}
}

func modelRandom(t *testing.T, budget int64, policy Policy) {
	seed := testSeed(t)
	h := newHarness(t, 256<<20, 4096, budget)
	h.setPolicy(t, policy)
	mr := &modelRun{t: t, h: h, r: rand.New(rand.NewPCG(seed, 2)), m: model{}, keys: 5000}
	batches := 40
	if testing.Short() {
		batches = 10
	}
	for b := range batches {
		for range 400 {
			mr.step()
		}
		require.NoError(t, Verify(h.root), "batch %d", b)
		if b%2 == 1 {
			require.NoError(t, h.tt.commit(h.c))
		}
	}
	mr.m.check(t, h.root)
	st := h.root.Stats()
	t.Logf("%d items, level %d\n%s", len(mr.m), h.root.Level(), st)
	require.NotZero(t, st.TotalCOWs())
	require.NotZero(t, st.LeafSplits)
	require.NotZero(t, st.LeafMerges+st.LeafRemovals)

	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root))
	mr.m.check(t, h.root)
}
