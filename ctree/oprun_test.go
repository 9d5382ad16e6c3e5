package ctree

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

var stressOpsFlag = flag.Int64("ctree.stress.ops", 0,
	"operations per goroutine in TestStress and TestConcurrent (default: each variant's own count)")

// opsWatchdog is how long runOps tolerates no operation completing before
// it dumps every goroutine and panics: a deadlock detector only, far above
// what any load makes one operation take.
const opsWatchdog = 5 * time.Minute

// waitLimit bounds a wait for what must happen on its own (the flusher's
// write): generous, so that only a real hang reaches it on a loaded
// machine.
const waitLimit = 2 * time.Minute

// stepper is one goroutine's operation source.
type stepper interface{ step() error }

// opsPer returns n, or the -ctree.stress.ops override.
func opsPer(n int64) int64 {
	if *stressOpsFlag > 0 {
		return *stressOpsFlag
	}
	return n
}

// runOps runs n operations of each stepper in its own goroutine, each
// inside the commit barrier. Commits are driven by the operation count,
// never by time: the goroutine that completes operation k·commitEvery
// (over all of them; 0: never) commits. Every run thus has the same number
// of commits and the same amount of work between them, idle or loaded.
// It returns the number of commits and the first error, which stops the
// others.
func runOps(h *harness, ss []stepper, n, commitEvery int64) (int64, error) {
	r := &opRun{h: h, n: n, commitEvery: commitEvery}
	stopWatch := r.watch()
	defer close(stopWatch)
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() { r.fail(r.loop(i, s)) })
	}
	wg.Wait()
	return r.commits.Load(), r.first
}

// opRun is the shared state of one runOps.
type opRun struct {
	h              *harness
	n, commitEvery int64
	ops, commits   atomic.Int64
	stopped        atomic.Bool
	mu             sync.Mutex
	first          error
}

func (r *opRun) loop(id int, s stepper) error {
	for range r.n {
		if r.stopped.Load() {
			return nil
		}
		r.h.tt.barrier.RLock() // a commit waits for running operations
		err := s.step()
		r.h.tt.barrier.RUnlock()
		if err != nil {
			return fmt.Errorf("worker %d: %w", id, err)
		}
		if err := r.done(); err != nil {
			return err
		}
	}
	return nil
}

// done counts one operation and commits on every commitEvery-th.
func (r *opRun) done() error {
	k := r.ops.Add(1)
	if r.commitEvery == 0 || k%r.commitEvery != 0 {
		return nil
	}
	if err := r.h.tt.commit(r.h.c); err != nil {
		return fmt.Errorf("commit after %d operations: %w", k, err)
	}
	r.commits.Add(1)
	return nil
}

func (r *opRun) fail(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == nil {
		r.first = err
	}
	r.stopped.Store(true)
}

// watch panics with every goroutine's stack when no operation completes
// for opsWatchdog; closing the returned channel ends it.
func (r *opRun) watch() chan struct{} {
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, still := r.ops.Load(), time.Duration(0)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if n := r.ops.Load(); n != last {
				last, still = n, 0
			} else if still += time.Second; still >= opsWatchdog {
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
				panic(fmt.Sprintf("no operation completed for %v (deadlock?); goroutines dumped above", opsWatchdog))
			}
		}
	}()
	return stop
}
