package alloc

import (
	"flag"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var refsSeedFlag = flag.Uint64("refs.seed", 0, "seed of the randomized delayed-ref tests (0: time-based)")

// refsSeed returns the seed to use and logs how to rerun with it.
func refsSeed(t *testing.T) uint64 {
	seed := *refsSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun: go test ./alloc -run '^%s$' -refs.seed=%d)", seed, t.Name(), seed)
	return seed
}

func treeMod(bytenr, root uint64, level int, delta int64) RefMod {
	return RefMod{Bytenr: bytenr, NumBytes: 16384, Root: root, Level: level, Delta: delta}
}

func dataMod(bytenr, numBytes, root, ino, off uint64, delta int64) RefMod {
	return RefMod{Bytenr: bytenr, NumBytes: numBytes, Data: true, Root: root, Objectid: ino, Offset: off, Delta: delta}
}

func TestDelayedRefsMerge(t *testing.T) {
	d := NewDelayedRefs()
	d.Add(dataMod(1<<20, 8192, 5, 257, 0, 1))
	d.Add(dataMod(1<<20, 8192, 5, 257, 0, 2))     // same identity: summed
	d.Add(dataMod(1<<20, 8192, 5, 258, 0, 1))     // other inode
	d.Add(dataMod(1<<20, 8192, 5, 257, 4096, -1)) // other offset: a drop
	d.Add(treeMod(5<<20, 5, 1, 1))
	d.Add(treeMod(5<<20, 5, 1, 0)) // ignored
	require.Equal(t, 2, d.Len())

	heads := d.Take()
	require.Equal(t, []*RefHead{
		{Bytenr: 1 << 20, NumBytes: 8192, Data: true, Refs: []RefDelta{
			{Root: 5, Objectid: 257, Offset: 0, Delta: 3},
			{Root: 5, Objectid: 257, Offset: 4096, Delta: -1},
			{Root: 5, Objectid: 258, Offset: 0, Delta: 1},
		}},
		{Bytenr: 5 << 20, NumBytes: 16384, Level: 1, Refs: []RefDelta{{Root: 5, Delta: 1}}},
	}, heads)
	require.Equal(t, int64(3), heads[0].Net())
	require.Zero(t, d.Len())
	require.Empty(t, d.Take())
	require.Equal(t, DelayedRefStats{Queued: 5, Merged: 1, Taken: 2, TakenRefs: 4}, d.Stats())
}

// Add returns the head's net change (the kernel's total_ref_mod), the sum
// over its identities, 0 once every reference cancelled.
func TestDelayedRefsNet(t *testing.T) {
	d := NewDelayedRefs()
	const b = 1 << 20
	require.Equal(t, int64(-1), d.Add(dataMod(b, 8192, 5, 257, 0, -1)))
	require.Equal(t, int64(0), d.Add(dataMod(b, 8192, 5, 258, 0, 1))) // another identity: head kept
	require.Equal(t, 1, d.Len())
	require.Equal(t, int64(-2), d.Add(dataMod(b, 8192, 5, 258, 0, -2)))
	require.Equal(t, int64(-2), d.Add(dataMod(b, 8192, 5, 258, 0, 0))) // ignored: the net as it is
	require.Equal(t, int64(-1), d.Add(dataMod(b, 8192, 5, 258, 0, 1)))
	require.Equal(t, int64(0), d.Add(dataMod(b, 8192, 5, 257, 0, 1))) // all cancelled: no head
	require.Zero(t, d.Len())
	require.Equal(t, int64(1), d.Add(treeMod(5<<20, 5, 1, 1)))
	require.Equal(t, int64(1), d.Take()[0].Net())
}

// An extent allocated and freed in one transaction leaves nothing behind,
// and its address can then be allocated again with other attributes.
func TestDelayedRefsCancel(t *testing.T) {
	d := NewDelayedRefs()
	d.Add(treeMod(5<<20, 5, 0, 1))
	d.Add(treeMod(6<<20, 7, 0, -1))
	d.Add(treeMod(5<<20, 5, 0, -1))
	require.Equal(t, 1, d.Len())
	d.Add(treeMod(5<<20, 2, 1, 1)) // reused for another tree, another level
	d.Add(dataMod(1<<20, 4096, 5, 257, 0, 2))
	d.Add(dataMod(1<<20, 4096, 5, 257, 0, -1))
	d.Add(dataMod(1<<20, 4096, 5, 258, 0, 1))
	d.Add(dataMod(1<<20, 4096, 5, 257, 0, -1))
	heads := d.Take()
	require.Len(t, heads, 3)
	require.Equal(t, &RefHead{Bytenr: 1 << 20, NumBytes: 4096, Data: true,
		Refs: []RefDelta{{Root: 5, Objectid: 258, Delta: 1}}}, heads[0])
	require.Equal(t, &RefHead{Bytenr: 5 << 20, NumBytes: 16384, Level: 1,
		Refs: []RefDelta{{Root: 2, Delta: 1}}}, heads[1])
	require.Equal(t, &RefHead{Bytenr: 6 << 20, NumBytes: 16384,
		Refs: []RefDelta{{Root: 7, Delta: -1}}}, heads[2])
	st := d.Stats()
	require.Equal(t, uint64(2), st.Canceled)
	require.Equal(t, uint64(3), st.Merged)
}

// Tree-block refs are identified by root alone.
func TestDelayedRefsTreeIdentity(t *testing.T) {
	d := NewDelayedRefs()
	m := treeMod(5<<20, 5, 0, 1)
	m.Objectid, m.Offset = 99, 4096 // meaningless for a tree block
	d.Add(m)
	d.Add(treeMod(5<<20, 5, 0, -1))
	require.Zero(t, d.Len())
}

func TestDelayedRefsContradictionPanics(t *testing.T) {
	d := NewDelayedRefs()
	d.Add(treeMod(5<<20, 5, 0, 1))
	require.Panics(t, func() { d.Add(treeMod(5<<20, 5, 1, -1)) })
	require.Panics(t, func() { d.Add(dataMod(5<<20, 16384, 5, 257, 0, 1)) })
}

// Many goroutines add random mods to overlapping extents while another
// takes heads now and then; the sum of everything taken equals the sum of
// everything added. Run it under -race.
func TestDelayedRefsConcurrent(t *testing.T) {
	seed := refsSeed(t)
	const workers, perWorker, extents = 8, 5000, 64
	d := NewDelayedRefs()
	want := make([]map[refKey]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		want[w] = map[refKey]int64{}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for range perWorker {
				e := uint64(r.IntN(extents))
				m := dataMod((e+1)<<20, 4096, 5, 256+uint64(r.IntN(4)), 0, int64(r.IntN(5))-2)
				if e%2 == 0 {
					m = treeMod((e+1)<<20, 5+uint64(r.IntN(3)), 0, int64(r.IntN(3))-1)
				}
				d.Add(m)
				if m.Delta != 0 {
					want[w][refKey{m.Bytenr, m.Root, m.Objectid}] += m.Delta
				}
			}
		})
	}
	got := map[refKey]int64{}
	collect := func() {
		for _, h := range d.Take() {
			require.NotEmpty(t, h.Refs)
			for i, r := range h.Refs {
				require.NotZero(t, r.Delta)
				if i > 0 {
					require.Negative(t, compareRefDelta(h.Refs[i-1], r))
				}
				got[refKey{h.Bytenr, r.Root, r.Objectid}] += r.Delta
			}
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
			collect()
			_ = d.Len()
			time.Sleep(100 * time.Microsecond)
		}
	}
	collect()
	total := map[refKey]int64{}
	for _, m := range want {
		for k, v := range m {
			total[k] += v
		}
	}
	for k, v := range total {
		require.Equal(t, v, got[k], "ref %+v", k)
	}
	for k, v := range got {
		require.Equal(t, v, total[k], "ref %+v", k)
	}
	st := d.Stats()
	require.LessOrEqual(t, st.Queued, uint64(workers*perWorker))
	require.Zero(t, d.Len())
}

type refKey struct{ bytenr, root, objectid uint64 }
