package ctree

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

const (
	stressWorkers = 8
	// Key numbers [0, stressKeys) are owned round-robin: key i belongs to
	// worker i % stressWorkers, so neighbouring keys — the same leaves —
	// are changed by different goroutines at once.
	stressKeys = 16000
	// stressCommitEvery operations (over all workers) make one transaction:
	// many more dirty blocks than the 64-block cache holds, so reclaim
	// writes back under the workers in every run, idle or loaded.
	stressCommitEvery = 2000
)

// stressModel is the expected content of the tree, under a mutex. Only a
// key's owner changes it, so an owner's read-modify-check needs no more
// than the mutex around each map access.
type stressModel struct {
	mu sync.Mutex
	m  model
}

func (sm *stressModel) get(i int) ([]byte, bool) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	d, ok := sm.m[i]
	return d, ok
}

func (sm *stressModel) set(i int, d []byte) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.m[i] = d
}

func (sm *stressModel) del(i int) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	delete(sm.m, i)
}

// stressWorker is one goroutine of TestStress.
type stressWorker struct {
	id  int
	h   *harness
	sm  *stressModel
	r   *rand.Rand
	ver uint64
}

// own draws a key number this worker owns.
func (w *stressWorker) own() int {
	return w.r.IntN(stressKeys/stressWorkers)*stressWorkers + w.id
}

func (w *stressWorker) step() error {
	switch x := w.r.IntN(100); {
	case x < 35:
		return w.insert()
	case x < 55:
		return w.delete()
	case x < 65:
		return w.overwrite()
	case x < 70:
		return w.resize()
	case x < 85:
		return w.lookup()
	}
	return w.scan()
}

func (w *stressWorker) insert() error { return w.put(w.own()) }

// put inserts key number i, which w owns, and expects ErrExists if the
// model has it.
func (w *stressWorker) put(i int) error {
	w.ver++
	d := testData(i, w.ver, itemSize(w.r, w.h.c.NodeSize())/4)
	err := InsertItem(w.h.tt, w.h.root, testKey(i), d)
	if _, ok := w.sm.get(i); ok {
		if !errors.Is(err, ErrExists) {
			return fmt.Errorf("insert of existing %v: %v", testKey(i), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("insert %v: %w", testKey(i), err)
	}
	w.sm.set(i, d)
	return nil
}

func (w *stressWorker) delete() error {
	i := w.own()
	err := DeleteItem(w.h.tt, w.h.root, testKey(i))
	if _, ok := w.sm.get(i); !ok {
		if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("delete of missing %v: %v", testKey(i), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %v: %w", testKey(i), err)
	}
	w.sm.del(i)
	return nil
}

// overwrite rewrites an item's bytes in place through a COW search.
func (w *stressWorker) overwrite() error {
	i := w.own()
	var p Path
	defer p.Release()
	found, err := SearchSlot(w.h.tt, w.h.root, testKey(i), &p, 0, true)
	if err != nil {
		return fmt.Errorf("cow search %v: %w", testKey(i), err)
	}
	if _, ok := w.sm.get(i); ok != found {
		return fmt.Errorf("cow search %v: found %t, model %t", testKey(i), found, ok)
	}
	if found {
		w.ver++
		d := testData(i, w.ver, len(p.ItemData()))
		copy(p.ItemData(), d)
		w.sm.set(i, d)
	}
	return nil
}

// resize grows or shrinks an owned item.
func (w *stressWorker) resize() error {
	i := w.own()
	old, ok := w.sm.get(i)
	if !ok {
		return nil
	}
	var p Path
	defer p.Release()
	if len(old) > 0 && w.r.IntN(2) == 0 {
		size := w.r.IntN(len(old))
		if err := TruncateItem(w.h.tt, w.h.root, &p, testKey(i), uint32(size)); err != nil {
			return fmt.Errorf("truncate %v: %w", testKey(i), err)
		}
		w.sm.set(i, old[:size:size])
		return nil
	}
	add := 1 + w.r.IntN(100)
	if len(old)+add > int(format.MaxItemSize(w.h.c.NodeSize())) {
		return nil
	}
	if err := ExtendItem(w.h.tt, w.h.root, &p, testKey(i), uint32(add)); err != nil {
		return fmt.Errorf("extend %v: %w", testKey(i), err)
	}
	d := p.ItemData()
	if !bytes.Equal(d[:len(old)], old) {
		return fmt.Errorf("extend %v changed its data", testKey(i))
	}
	w.ver++
	copy(d[len(old):], testData(i, w.ver, add))
	w.sm.set(i, append([]byte(nil), d...))
	return nil
}

// lookup reads an owned key (exact) or a foreign one (found or not).
func (w *stressWorker) lookup() error {
	if w.r.IntN(2) == 0 {
		i := w.r.IntN(stressKeys)
		if _, err := Lookup(w.h.root, testKey(i)); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("lookup %v: %w", testKey(i), err)
		}
		return nil
	}
	i := w.own()
	got, err := Lookup(w.h.root, testKey(i))
	want, ok := w.sm.get(i)
	switch {
	case !ok && !errors.Is(err, ErrNotFound):
		return fmt.Errorf("lookup of missing %v: %v", testKey(i), err)
	case ok && err != nil:
		return fmt.Errorf("lookup %v: %w", testKey(i), err)
	case ok && !bytes.Equal(got, want):
		return fmt.Errorf("lookup %v: data differs from the model", testKey(i))
	}
	return nil
}

// scan iterates over a range: keys strictly increase and stay in the
// range, and the worker's own keys in it are exactly its model's.
func (w *stressWorker) scan() error {
	a := w.r.IntN(stressKeys)
	b := a + 1 + w.r.IntN(400)
	it := w.h.root.Scan(testKey(a), testKey(b))
	seen := map[int]bool{}
	var prev *format.Key
	for it.Next() {
		k := it.Item().Key
		if prev != nil && k.Compare(*prev) <= 0 {
			return fmt.Errorf("scan [%d,%d): %v after %v", a, b, k, *prev)
		}
		prev = &k
		i, ok := testKeyNumber(k)
		if !ok || i < a || i >= b {
			return fmt.Errorf("scan [%d,%d): key %v out of range", a, b, k)
		}
		if i%stressWorkers != w.id {
			continue
		}
		want, ok := w.sm.get(i)
		if !ok || !bytes.Equal(want, it.Item().Data) {
			return fmt.Errorf("scan [%d,%d): own key %v differs from the model (in model: %t)", a, b, k, ok)
		}
		seen[i] = true
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("scan [%d,%d): %w", a, b, err)
	}
	for i := a + (w.id-a%stressWorkers+stressWorkers)%stressWorkers; i < b; i += stressWorkers {
		if _, ok := w.sm.get(i); ok && !seen[i] {
			return fmt.Errorf("scan [%d,%d): own key %v missing", a, b, testKey(i))
		}
	}
	return nil
}

// testKeyNumber inverts testKey.
func testKeyNumber(k format.Key) (int, bool) {
	i := int(k.Offset / 3)
	return i, k.Offset%3 == 0 && testKey(i) == k
}

// TestStress runs 8 goroutines inserting, deleting, overwriting, resizing,
// looking up and scanning interleaved keys of one tree (neighbouring keys
// belong to different goroutines) with a small cache — reclaim writes back
// and evicts under them — committing every stressCommitEvery operations.
// Its length is an operation count (4,000 per goroutine, 1,000 with -race
// or -short; -ctree.stress.ops=N for longer), never a time, so load changes how long it takes, not what it
// does. A watchdog dumps every goroutine and fails if no operation
// completes for opsWatchdog. At the end the tree verifies and equals the
// model, in the cache and read back from the device by a fresh cache.
func TestStress(t *testing.T) {
	n := int64(4000)
	if testing.Short() || raceEnabled {
		n = 1000
	}
	t.Run("policy=always", func(t *testing.T) { stress(t, PolicyAlways, opsPer(n)) })
	for _, p := range Policies()[1:] {
		t.Run("policy="+p.String(), func(t *testing.T) { stress(t, p, opsPer(n/2)) })
	}
}

func stress(t *testing.T, policy Policy, n int64) {
	seed := ctreeSeed(t)
	h := newHarness(t, 256<<20, 4096, 64*4096)
	h.setPolicy(t, policy)
	sm := &stressModel{m: model{}}
	ws := make([]*stressWorker, stressWorkers)
	for i := range ws {
		ws[i] = &stressWorker{id: i, h: h, sm: sm, r: rand.New(rand.NewPCG(seed, uint64(1000+i)))}
	}
	prefill(t, h, ws)
	st0, cs0 := h.root.Stats(), h.c.Stats()
	commits, err := runOps(h, steppers(ws), n, stressCommitEvery)
	require.NoError(t, err)
	st, cs := h.root.Stats().Sub(st0), h.c.Stats().Sub(cs0)
	t.Logf("%d operations by %d goroutines, %d commits, %d items, %d levels\n%s\ncache: %s",
		n*stressWorkers, stressWorkers, commits, len(sm.m), h.root.Level()+1, st, cs)
	require.NotZero(t, cs.Writebacks[0], "reclaim wrote back under the workers")

	require.NoError(t, Verify(h.root))
	sm.m.check(t, h.root)
	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root), "read back by a fresh cache")
	sm.m.check(t, h.root)
}

// prefill inserts every other key and commits: the tree starts with far
// more leaves than the cache holds, so reclaim works from the first
// transaction on, however short the run.
func prefill(t *testing.T, h *harness, ws []*stressWorker) {
	for i := 0; i < stressKeys; i += 2 {
		require.NoError(t, ws[i%stressWorkers].put(i))
	}
	require.NoError(t, h.tt.commit(h.c))
}

func steppers[S stepper](ws []S) []stepper {
	ss := make([]stepper, len(ws))
	for i, w := range ws {
		ss[i] = w
	}
	return ss
}
