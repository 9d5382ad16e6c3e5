package ctree

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

var stressLenFlag = flag.Duration("ctree.stress", 0, "run TestStress for this long (e.g. 10m; default about 10s)")

// stressWatchdog is how long TestStress tolerates no operation completing.
const stressWatchdog = 60 * time.Second

const (
	stressWorkers = 8
	// Key numbers [0, stressKeys) are owned round-robin: key i belongs to
	// worker i % stressWorkers, so neighbouring keys — the same leaves —
	// are changed by different goroutines at once.
	stressKeys = 16000
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
	ops *atomic.Int64
}

// own draws a key number this worker owns.
func (w *stressWorker) own() int {
	return w.r.IntN(stressKeys/stressWorkers)*stressWorkers + w.id
}

func (w *stressWorker) run(stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		w.h.tt.barrier.RLock() // a commit waits for running operations
		err := w.step()
		w.h.tt.barrier.RUnlock()
		if err != nil {
			return fmt.Errorf("worker %d: %w", w.id, err)
		}
		w.ops.Add(1)
	}
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

func (w *stressWorker) insert() error {
	i := w.own()
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
// and evicts under them — and a committer, for about 10 s (-ctree.stress=10m
// for longer). A watchdog dumps every goroutine and fails if no operation
// completes for 60 s. At the end the tree verifies and equals the model, in
// the cache and read back from the device by a fresh cache.
func TestStress(t *testing.T) {
	length := 10 * time.Second
	if testing.Short() {
		length = 2 * time.Second
	}
	if *stressLenFlag > 0 {
		length = *stressLenFlag
	}
	t.Run("policy=always", func(t *testing.T) { stress(t, PolicyAlways, length) })
	for _, p := range Policies()[1:] {
		t.Run("policy="+p.String(), func(t *testing.T) { stress(t, p, min(length, 2*time.Second)) })
	}
}

func stress(t *testing.T, policy Policy, length time.Duration) {
	seed := ctreeSeed(t)
	h := newHarness(t, 256<<20, 4096, 64*4096)
	h.setPolicy(t, policy)
	sm := &stressModel{m: model{}}
	var ops atomic.Int64
	ws := make([]*stressWorker, stressWorkers)
	for i := range ws {
		ws[i] = &stressWorker{id: i, h: h, sm: sm, r: rand.New(rand.NewPCG(seed, uint64(1000+i))), ops: &ops}
	}
	st0, cs0 := h.root.Stats(), h.c.Stats()
	commits, err := stressRun(ws, h, &ops, length, 50*time.Millisecond)
	require.NoError(t, err)
	st, cs := h.root.Stats().Sub(st0), h.c.Stats().Sub(cs0)
	t.Logf("%v: %d operations by %d goroutines, %d commits, %d items, %d levels\n%s\ncache: %s",
		length, ops.Load(), stressWorkers, commits, len(sm.m), h.root.Level()+1, st, cs)
	require.NotZero(t, cs.Writebacks[0], "reclaim wrote back under the workers")

	require.NoError(t, Verify(h.root))
	sm.m.check(t, h.root)
	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root), "read back by a fresh cache")
	sm.m.check(t, h.root)
}

// stressRun runs the workers and a committer for length under a watchdog,
// and returns the number of commits and the first error.
func stressRun(ws []*stressWorker, h *harness, ops *atomic.Int64, length, commitEvery time.Duration) (int, error) {
	stop := make(chan struct{})
	errs := make(chan error, len(ws)+1)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			if err := w.run(stop); err != nil {
				errs <- err
			}
		})
	}
	commits := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(commitEvery):
			}
			if err := h.tt.commit(h.c); err != nil {
				errs <- fmt.Errorf("commit: %w", err)
				return
			}
			commits++
		}
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var first error
	deadline := time.After(length)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastChange := ops.Load(), time.Now()
	stopped := false
	for {
		select {
		case <-done:
			select {
			case first = <-errs:
			default:
			}
			return commits, first
		case err := <-errs:
			if first == nil {
				first = err
			}
			if !stopped {
				close(stop)
				stopped = true
			}
		case <-deadline:
			if !stopped {
				close(stop)
				stopped = true
			}
		case <-tick.C:
			if n := ops.Load(); n != last {
				last, lastChange = n, time.Now()
			} else if time.Since(lastChange) > stressWatchdog {
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
				panic(fmt.Sprintf("TestStress: no operation completed for %v (deadlock?); goroutines dumped above", stressWatchdog))
			}
		}
	}
}
