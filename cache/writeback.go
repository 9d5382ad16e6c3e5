package cache

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/ncw/directio"

	"cowfs/checker"
	"cowfs/disk"
)

// WriteDirty writes those of ebs that are still dirty, for a commit or an
// fsync: sorted by address, adjacent blocks merged into one device write,
// waiting for each buffer's lock. It returns when every write it issued has
// completed. The error reports buffers whose write failed now or earlier
// (ErrWriteFailed) and pinned buffers left dirty (ErrWritebackBlocked); each
// failure also reaches OnWriteError. The caller must hold none of the tree
// locks of ebs.
func (c *Cache) WriteDirty(ebs []*ExtentBuffer, cause Cause) error {
	return c.writeBack(ebs, cause, true)
}

// FlushAll writes every dirty buffer in the cache, as WriteDirty does (for
// tests, commits and before Close), and waits for writes already in flight
// (a buffer the flusher or reclaim has taken is no longer DIRTY but not yet
// on disk: its blocking lock returns once that write is done). The caller
// must hold no tree lock.
func (c *Cache) FlushAll(cause Cause) error {
	c.mu.Lock()
	var ebs []*ExtentBuffer
	for _, eb := range c.mu.index.Values() {
		if eb.Has(Dirty | Writeback) {
			ebs = append(ebs, eb)
		}
	}
	c.mu.Unlock()
	return c.writeBack(ebs, cause, true)
}

// writeBack is the one writeback function: every path (reclaim, flusher,
// commit, fsync) goes through it. It sorts ebs by address, takes and
// prepares each dirty one through the steps of the package doc, merges runs
// of adjacent blocks into one write per copy (at most Options.WritebackMaxIO
// bytes), writes up to Options.WritebackDepth of those runs at once, and
// reports failures once every write has completed and every lock is
// released. blocking selects a blocking lock (commit, fsync) or a try-lock
// (reclaim, threshold) for the first buffer of a run; later buffers of a run
// are always try-locked, so it never waits for a lock while holding one.
func (c *Cache) writeBack(ebs []*ExtentBuffer, cause Cause, blocking bool) error {
	if cause < 0 || cause >= NumCauses {
		return fmt.Errorf("cache: writeback with unknown cause %d", int(cause))
	}
	b := c.newBatch(cause, blocking)
	for _, eb := range sortedUnique(ebs) {
		b.add(eb)
	}
	b.submit()
	b.wait()
	b.sortFailures()
	b.notify()
	return b.err()
}

func sortedUnique(ebs []*ExtentBuffer) []*ExtentBuffer {
	seen := make(map[*ExtentBuffer]bool, len(ebs))
	out := make([]*ExtentBuffer, 0, len(ebs))
	for _, eb := range ebs {
		if eb != nil && !seen[eb] {
			seen[eb] = true
			out = append(out, eb)
		}
	}
	slices.SortFunc(out, func(a, b *ExtentBuffer) int { return cmp.Compare(a.Bytenr, b.Bytenr) })
	return out
}

// batch is one writeBack call: the run being built (locked, prepared
// buffers of adjacent addresses), the runs being written, and the failures
// to report.
//
// A run, once submitted, belongs to the goroutine writing it: that
// goroutine ends the writeback of its buffers and unlocks them (a
// sync.RWMutex may be unlocked by another goroutine than the one that
// locked it). The batch waits for every run before it reports anything.
type batch struct {
	c        *Cache
	cause    Cause
	blocking bool
	maxNodes int // blocks per merged write
	run      []pending
	blocked  int // pinned buffers skipped

	// slots holds a token per run being written, WritebackDepth at most;
	// nil for a depth of 1, where runs are written on the caller's
	// goroutine one after the other.
	slots    chan struct{}
	inflight sync.WaitGroup

	mu       sync.Mutex // guards failures: runs finish concurrently
	failures []failure
}

func (c *Cache) newBatch(cause Cause, blocking bool) *batch {
	b := &batch{c: c, cause: cause, blocking: blocking,
		maxNodes: max(1, int(c.opts.writebackMaxIO()/c.nodesize))}
	if d := c.opts.writebackDepth(); d > 1 {
		b.slots = make(chan struct{}, d)
	}
	return b
}

// pending is a buffer ready to write, and where its copies go: locked,
// unless the writeback I/O mode released the lock (then snap holds its
// bytes under IOBounce).
type pending struct {
	eb       *ExtentBuffer
	copies   []int64
	snap     *[]byte
	unlocked bool
}

// bytes are what the I/O writes for p: its snapshot or the buffer itself.
func (p pending) bytes(nodesize int64) []byte {
	if p.snap != nil {
		return (*p.snap)[:nodesize]
	}
	return p.eb.data
}

type failure struct {
	eb     *ExtentBuffer
	err    error
	notify bool // not yet reported through OnWriteError
}

// add locks eb and appends it to the run, or starts a new run. Before
// waiting for a lock it submits the run and waits for every write in
// flight, so no buffer of the batch is locked while it waits.
func (b *batch) add(eb *ExtentBuffer) {
	if !eb.TryLock() {
		b.submit()
		if !b.blocking {
			b.c.stats.lockedSkips.Add(1)
			return
		}
		b.wait()
		eb.Lock()
	}
	p, ok := b.prepare(eb)
	if !ok {
		return
	}
	if len(b.run) > 0 && !b.extends(p) {
		b.submit()
	}
	b.run = append(b.run, p)
}

// extends reports whether p continues the run on every copy, within the
// largest merged write.
func (b *batch) extends(p pending) bool {
	last := b.run[len(b.run)-1]
	ns := b.c.nodesize
	if p.eb.Bytenr != last.eb.Bytenr+uint64(ns) || len(p.copies) != len(last.copies) ||
		len(b.run) >= b.maxNodes {
		return false
	}
	for i, off := range p.copies {
		if off != last.copies[i]+ns {
			return false
		}
	}
	return true
}

// prepare runs the steps before the I/O on the write-locked eb: skip it if
// pinned or no longer dirty; clear DIRTY, set WRITEBACK and WRITTEN,
// checksum, run the write-time checker. It unlocks eb unless it returns ok.
func (b *batch) prepare(eb *ExtentBuffer) (pending, bool) {
	c := b.c
	if eb.WritebackBlockers() > 0 {
		eb.Unlock()
		c.stats.blockedSkips.Add(1)
		b.blocked++
		return pending{}, false
	}
	if !b.waitInFlight(eb) {
		return pending{}, false
	}
	eb.io.Lock()
	if !c.startWriteback(eb) {
		eb.io.Unlock()
		failed := eb.Has(WriteErr)
		eb.Unlock()
		if failed && b.blocking {
			b.fail(failure{eb: eb, err: fmt.Errorf("block %d: %w", eb.Bytenr, ErrWriteFailed)})
		}
		return pending{}, false
	}
	eb.Header().SetWritten(true)
	c.ctx.CsumType.SetBlockCsum(eb.data)
	if err := checker.CheckWrite(eb.data, c.checkContext(), c.lastCommitted.Load()); err != nil {
		c.stats.checkFailures.Add(1)
		c.reportBug(eb, b.cause, err)
		b.finish(pending{eb: eb}, fmt.Errorf("block %d not written: %w", eb.Bytenr, err))
		return pending{}, false
	}
	copies, err := c.cmap.Copies(eb.Bytenr, uint64(c.nodesize))
	if err != nil {
		b.finish(pending{eb: eb}, fmt.Errorf("block %d: %w", eb.Bytenr, err))
		return pending{}, false
	}
	return b.release(pending{eb: eb, copies: copies}), true
}

// waitInFlight handles a write-locked eb whose previous write is still in
// flight (only when the lock is not held across the I/O): reclaim and the
// flusher skip it; a commit or fsync submits its run, waits for that write
// and relocks eb. It reports whether eb is locked and may be prepared.
func (b *batch) waitInFlight(eb *ExtentBuffer) bool {
	for eb.Has(Writeback) {
		eb.Unlock()
		if !b.blocking {
			b.c.stats.lockedSkips.Add(1)
			return false
		}
		b.submit()
		b.wait()
		eb.waitIO()
		eb.Lock()
	}
	return true
}

// release drops the lock of a prepared buffer before its I/O when the
// writeback I/O mode says so, after snapshotting its bytes under IOBounce.
func (b *batch) release(p pending) pending {
	switch b.c.opts.IO {
	case IOBounce:
		p.snap = getStaging(&snapPool, b.c.nodesize)
		copy(*p.snap, p.eb.data)
	case IOUnlocked:
	default:
		return p
	}
	p.unlocked = true
	p.eb.Unlock()
	return p
}

// startWriteback clears DIRTY and sets WRITEBACK (clearing an old WRITE_ERR)
// if eb is dirty; it reports whether it was.
func (c *Cache) startWriteback(eb *ExtentBuffer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.takeDirtyLocked(eb) {
		return false
	}
	eb.set(Writeback)
	eb.clear(WriteErr)
	return true
}

// reportBug says loudly that the write-time checker refused a block: the
// tree code built a bad block, or re-dirtied one of a committed transaction.
func (c *Cache) reportBug(eb *ExtentBuffer, cause Cause, err error) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	fmt.Fprintf(c.logw, "cowfs: cache: BUG: %s writeback of block %d (transid %d) refused, not written: %v\n",
		cause, eb.Bytenr, eb.DirtyTransid(), err)
}

// submit hands the run to a writer: with a depth of 1 the caller writes
// it at once; otherwise a new goroutine does, once fewer than
// WritebackDepth runs are being written. Waiting for a slot waits for a
// write to complete, which needs no lock.
func (b *batch) submit() {
	run := b.run
	b.run = nil
	if len(run) == 0 {
		return
	}
	if b.slots == nil {
		b.write(run)
		return
	}
	b.slots <- struct{}{}
	b.inflight.Add(1)
	go func() {
		defer b.inflight.Done()
		defer func() { <-b.slots }()
		b.write(run)
	}()
}

// wait returns when every submitted run is written and unlocked.
func (b *batch) wait() { b.inflight.Wait() }

// write writes a run: one device write per copy, from the buffer itself
// or, for a merged run, from an aligned staging copy. Then it ends every
// buffer's writeback and unlocks it.
func (b *batch) write(run []pending) {
	c := b.c
	buf, put := runBytes(run, c.nodesize, b.maxNodes)
	defer put()
	var ioErr error
	for _, off := range run[0].copies {
		c.stats.writeIOs.Add(1)
		if err := c.dev.WriteAt(buf, off, disk.KindMeta); err != nil {
			ioErr = fmt.Errorf("write %d bytes at physical %d: %w", len(buf), off, err)
			continue
		}
		c.stats.bytesWritten.Add(uint64(len(buf)))
	}
	c.stats.writebacks[b.cause].Add(uint64(len(run)))
	for _, p := range run {
		var err error
		if ioErr != nil {
			err = fmt.Errorf("block %d: %w", p.eb.Bytenr, ioErr)
		}
		b.finish(p, err)
	}
}

// runBytes returns the bytes of a run — the buffer itself for one block, a
// staging copy from stagingPool for more — and the function that gives the
// staging copy back.
func runBytes(run []pending, nodesize int64, maxNodes int) ([]byte, func()) {
	if len(run) == 1 {
		return run[0].bytes(nodesize), func() {}
	}
	sp := getStaging(&stagingPool, int64(maxNodes)*nodesize)
	buf := (*sp)[:int64(len(run))*nodesize]
	for i, p := range run {
		copy(buf[int64(i)*nodesize:], p.bytes(nodesize))
	}
	return buf, func() { stagingPool.Put(sp) }
}

// stagingPool holds aligned staging buffers for merged writes, so a
// writeback reuses memory already faulted in instead of allocating a
// buffer per run.
var stagingPool sync.Pool // of *[]byte

// snapPool holds the one-node snapshots of IOBounce.
var snapPool sync.Pool // of *[]byte

// getStaging returns an aligned buffer of at least n bytes from pool.
func getStaging(pool *sync.Pool, n int64) *[]byte {
	if sp, ok := pool.Get().(*[]byte); ok && int64(len(*sp)) >= n {
		return sp
	}
	buf := directio.AlignedBlock(int(n))
	return &buf
}

// finish ends p's writeback: WRITE_ERR on failure, WRITEBACK cleared, the
// snapshot given back, the lock released if still held. The failure is
// reported after every lock is released.
func (b *batch) finish(p pending, err error) {
	eb := p.eb
	if err != nil {
		eb.set(WriteErr)
		b.c.stats.writeErrors.Add(1)
		b.fail(failure{eb: eb, err: err, notify: true})
	}
	eb.clear(Writeback)
	eb.io.Unlock()
	if p.snap != nil {
		snapPool.Put(p.snap)
	}
	if !p.unlocked {
		eb.Unlock()
	}
}

// fail records a failure; runs finish concurrently.
func (b *batch) fail(f failure) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = append(b.failures, f)
}

// sortFailures puts failures in address order, whatever order the writes
// completed in, so reports are the same from one run to the next. It runs
// after wait.
func (b *batch) sortFailures() {
	slices.SortStableFunc(b.failures, func(x, y failure) int { return cmp.Compare(x.eb.Bytenr, y.eb.Bytenr) })
}

// notify calls OnWriteError for each new failure.
func (b *batch) notify() {
	fn := b.c.onWriteErr.Load()
	if fn == nil {
		return
	}
	for _, f := range b.failures {
		if f.notify {
			(*fn)(f.eb, fmt.Errorf("cache: %s writeback: %w", b.cause, f.err))
		}
	}
}

// err summarises the batch for WriteDirty and FlushAll: the first failure
// and how many there were, and pinned buffers left dirty when the caller
// needed them written.
func (b *batch) err() error {
	var blocked error
	if b.blocking && b.blocked > 0 {
		blocked = fmt.Errorf("%w: %d pinned buffers left dirty", ErrWritebackBlocked, b.blocked)
	}
	switch {
	case len(b.failures) > 0 && blocked != nil:
		return fmt.Errorf("cache: %s writeback: %d buffers failed, first: %w; %w",
			b.cause, len(b.failures), b.failures[0].err, blocked)
	case len(b.failures) > 0:
		return fmt.Errorf("cache: %s writeback: %d buffers failed, first: %w",
			b.cause, len(b.failures), b.failures[0].err)
	case blocked != nil:
		return fmt.Errorf("cache: %s writeback: %w", b.cause, blocked)
	}
	return nil
}
