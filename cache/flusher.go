package cache

import (
	"sync"
	"time"
)

// flusher is the background goroutine that writes dirty unreferenced
// buffers back (CauseThreshold) once dirty bytes reach
// Options.DirtyThreshold, until they are at most DirtyThreshold/2. It runs
// when woken (MarkDirty or Release at the threshold) and every
// Options.FlushInterval. Its writes use try-locks, so it never waits for a
// tree lock and Close never waits for one either.
type flusher struct {
	wakeCh   chan struct{} // capacity 1: a wake-up pending or not
	passCh   chan chan struct{}
	stopCh   chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func (c *Cache) startFlusher() {
	f := &c.flusher
	f.wakeCh = make(chan struct{}, 1)
	f.passCh = make(chan chan struct{})
	f.stopCh = make(chan struct{})
	f.done = make(chan struct{})
	go c.runFlusher()
}

// wake asks the flusher to check the threshold; it never blocks.
func (f *flusher) wake() {
	select {
	case f.wakeCh <- struct{}{}:
	default:
	}
}

// stop ends the goroutine and waits for it; later calls return at once.
func (f *flusher) stop() {
	f.stopOnce.Do(func() { close(f.stopCh) })
	<-f.done
}

func (f *flusher) stopping() bool {
	select {
	case <-f.stopCh:
		return true
	default:
		return false
	}
}

func (c *Cache) runFlusher() {
	f := &c.flusher
	defer close(f.done)
	var tick <-chan time.Time
	if c.opts.FlushInterval > 0 {
		t := time.NewTicker(c.opts.FlushInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var passed chan struct{}
		select {
		case <-f.stopCh:
			return
		case <-f.wakeCh:
		case <-tick:
		case passed = <-f.passCh:
		}
		if c.dirtyBytes.Load() >= c.opts.dirtyThreshold() {
			c.writeUnreferenced(CauseThreshold, c.flushWant, false)
		}
		if passed != nil {
			close(passed)
		}
	}
}

// pass makes the flusher check the threshold once, as a wake-up would,
// and returns when that check and its writeback are done: what it sees
// is everything that happened before the call. It returns at once when
// the flusher has stopped.
func (f *flusher) pass() {
	passed := make(chan struct{})
	select {
	case f.passCh <- passed:
		<-passed
	case <-f.done:
	}
}

// flushWant is how many buffers the flusher still has to write: enough to
// bring dirty bytes to DirtyThreshold/2; none once Close is stopping it.
func (c *Cache) flushWant() int {
	if c.flusher.stopping() {
		return 0
	}
	return ceilNodes(c.dirtyBytes.Load()-c.opts.dirtyThreshold()/2, c.nodesize)
}
