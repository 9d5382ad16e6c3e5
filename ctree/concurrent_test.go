package ctree

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	workers     = 8
	ownKeys     = 1500 // key numbers [w*ownKeys, (w+1)*ownKeys) belong to worker w
	sharedStart = workers * ownKeys
	sharedKeys  = 800 // [sharedStart, sharedStart+sharedKeys) are used by every worker
)

// worker is one goroutine of TestConcurrent with the model of its own keys.
type worker struct {
	id  int
	h   *harness
	r   *rand.Rand
	m   model
	ver uint64
}

func (w *worker) step() error {
	x := w.r.IntN(100)
	if x < 30 {
		return w.shared(x)
	}
	i := w.id*ownKeys + w.r.IntN(ownKeys)
	_, exists := w.m[i]
	switch {
	case x < 60 && !exists:
		w.ver++
		d := testData(i, w.ver, itemSize(w.r, 4096)/4)
		if err := InsertItem(w.h.tt, w.h.root, testKey(i), d); err != nil {
			return err
		}
		w.m[i] = d
	case x < 80 && exists:
		if err := DeleteItem(w.h.tt, w.h.root, testKey(i)); err != nil {
			return err
		}
		delete(w.m, i)
	case x < 90:
		got, err := Lookup(w.h.root, testKey(i))
		if exists && (err != nil || !bytes.Equal(got, w.m[i])) {
			return fmt.Errorf("lookup %v: %v (data equal %t)", testKey(i), err, bytes.Equal(got, w.m[i]))
		}
		if !exists && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("lookup of missing %v: %v", testKey(i), err)
		}
	default:
		return w.scan()
	}
	return nil
}

// shared inserts, deletes or looks up a key every worker uses: only the
// outcome's kind is checked.
func (w *worker) shared(x int) error {
	i := sharedStart + w.r.IntN(sharedKeys)
	var err error
	switch {
	case x < 12:
		err = InsertItem(w.h.tt, w.h.root, testKey(i), testData(i, 0, w.r.IntN(100)))
	case x < 24:
		err = DeleteItem(w.h.tt, w.h.root, testKey(i))
	default:
		_, err = Lookup(w.h.root, testKey(i))
	}
	if errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// scan reads a window of the worker's own keys and compares with its model.
func (w *worker) scan() error {
	a := w.id*ownKeys + w.r.IntN(ownKeys)
	b := min(a+50, (w.id+1)*ownKeys)
	it := w.h.root.Scan(testKey(a), testKey(b))
	n := 0
	for it.Next() {
		k := it.Item().Key
		i := int(k.Offset / 3)
		if d, ok := w.m[i]; !ok || !bytes.Equal(d, it.Item().Data) {
			return fmt.Errorf("scan [%d, %d): unexpected %v", a, b, k)
		}
		n++
	}
	want := 0
	for i := a; i < b; i++ {
		if _, ok := w.m[i]; ok {
			want++
		}
	}
	if n != want {
		return fmt.Errorf("scan [%d, %d): %d items, model has %d", a, b, n, want)
	}
	return it.Err()
}

// TestConcurrent runs 8 goroutines inserting, deleting, looking up and
// scanning disjoint and shared key ranges of one tree, with a small cache
// that writes back under them. No deadlock (a watchdog dumps the
// goroutines), a verified tree at the end, and every worker's keys equal
// its model, also read back by a fresh cache. Each variant runs a fixed
// number of operations (-ctree.stress.ops=N per goroutine for more).
//
//   - commits: reclaim writes back (in the workers' goroutines) and every
//     1000th operation commits, so freed blocks are reused;
//   - flusher: the cache's flusher goroutine also writes back, try-locking
//     blocks while the workers hold theirs; one transaction, so the run is
//     bounded by the METADATA chunk. (Commits are left out here: the cache's
//     FlushAll does not wait for a write the flusher has already started,
//     so a commit could declare a transaction done while one of its blocks
//     is still being written.) The flusher is woken whenever dirtying
//     crosses its threshold (its 1 ms interval is only a fallback), so its
//     writeback under the workers, and the re-COWs that follow, do not
//     wait for a timer.
func TestConcurrent(t *testing.T) {
	n := int64(2500)
	if testing.Short() {
		n = 700
	}
	t.Run("commits", func(t *testing.T) {
		concurrent(t, newHarness(t, 512<<20, 4096, 96*4096), opsPer(n), 1000)
	})
	t.Run("flusher", func(t *testing.T) {
		h := newHarnessFlusher(t, 512<<20, 4096, 96*4096, 32*4096)
		st := concurrent(t, h, opsPer(n*3/4), 0)
		require.NotZero(t, st.TotalReCOWs(), "the flusher's writeback under the workers causes re-COWs")
	})
}

// concurrent runs the workers and checks the tree; it returns the figures
// of the run.
func concurrent(t *testing.T, h *harness, n, commitEvery int64) Stats {
	seed := testSeed(t)
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{id: i, h: h, r: rand.New(rand.NewPCG(seed, uint64(100+i))), m: model{}}
	}
	_, err := runOps(h, steppers(ws), n, commitEvery)
	require.NoError(t, err)
	require.NoError(t, Verify(h.root))
	all := model{}
	for _, w := range ws {
		for i, d := range w.m {
			all[i] = d
		}
	}
	st := h.root.Stats()
	t.Logf("%d operations, level %d, cache %s\n%s", n*workers, h.root.Level(), h.c.Stats(), st)
	_ = h.c.Close() // stop the flusher before the commit in reopen
	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root))
	for i := sharedStart; i < sharedStart+sharedKeys; i++ { // drop the shared keys
		if err := DeleteItem(h.tt, h.root, testKey(i)); err != nil {
			require.ErrorIs(t, err, ErrNotFound)
		}
	}
	all.check(t, h.root)
	return st
}
