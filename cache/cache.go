package cache

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"cowfs/checker"
	"cowfs/disk"
)

// Errors of the cache.
var (
	// ErrInUse reports a Create of an address whose cached buffer is still
	// referenced, dirty, under writeback or being read.
	ErrInUse = errors.New("block is cached and in use")
	// ErrUnwritten reports, from Close, buffers whose bytes never reached
	// the device: dirty ones, and ones whose last write failed.
	ErrUnwritten = errors.New("buffers remain unwritten")
	// ErrWritebackBlocked reports, from WriteDirty and FlushAll, buffers
	// left dirty because they were pinned (WritebackBlockers() > 0).
	ErrWritebackBlocked = errors.New("writeback blocked")
	// ErrWriteFailed reports, from WriteDirty and FlushAll, a buffer whose
	// earlier write (by reclaim or the flusher) had failed.
	ErrWriteFailed = errors.New("earlier write failed")
)

// Cache holds extent buffers keyed by logical address within a memory
// budget, reads and verifies blocks, and writes dirty ones back. It is safe
// for concurrent use; see the package doc for its locks.
type Cache struct {
	dev      disk.Device
	cmap     *disk.ChunkMap
	ctx      checker.Context
	opts     Options
	nodesize int64

	lastCommitted atomic.Uint64
	onWriteErr    atomic.Pointer[func(*ExtentBuffer, error)]
	// dirtyBytes changes under mu; Release and the flusher read it without.
	dirtyBytes atomic.Int64
	stats      counters

	logMu sync.Mutex
	logw  io.Writer // where write-time checker failures are reported

	flusher flusher
	arena   *arena // where buffers' bytes come from

	// slack is how far below Budget reclaim goes once it runs (bytes, whole
	// nodes): Budget/64, so that it runs once per batch of new buffers
	// rather than once per buffer. It is 0 for budgets under 64 nodes.
	slack int64

	mu struct {
		sync.Mutex
		// index holds every cached buffer by address. It has locks of its
		// own (one per shard) so that a hit (Find, Get) does not take
		// c.mu; it is changed only with c.mu held as well.
		index *bufIndex
		// clean orders the clean buffers of index for reclaim, least
		// recently used first (an approximation: see touch). Dirty
		// buffers leave it in MarkDirty and come back, at the recent end,
		// when writeback takes their DIRTY bit.
		clean *simplelru.LRU[uint64, *ExtentBuffer]
		// dirty orders the dirty buffers for writeback by Options.Order.
		dirty dirtyHeap
		// loading holds addresses being read (Get) or made (Create); the
		// channel is closed when the buffer is in index or the read failed.
		loading map[uint64]chan struct{}
		bytes   int64  // nodesize × (buffers in index + loading)
		seq     uint64 // last dirtySeq handed out
	}
}

// New returns a cache reading and writing tree blocks of dev, translating
// addresses with cmap, verifying with ctx, and starts its flusher. The last
// committed generation (for the write-time checker) starts at
// ctx.SuperGeneration. cmap must not change while the cache uses it.
func New(dev disk.Device, cmap *disk.ChunkMap, ctx checker.Context, opts Options) (*Cache, error) {
	return newCache(dev, cmap, ctx, opts, os.Stderr)
}

func newCache(dev disk.Device, cmap *disk.ChunkMap, ctx checker.Context, opts Options, logw io.Writer) (*Cache, error) {
	if dev == nil || cmap == nil {
		return nil, errors.New("cache: nil device or chunk map")
	}
	if err := validContext(ctx); err != nil {
		return nil, err
	}
	if err := opts.Validate(ctx.NodeSize); err != nil {
		return nil, err
	}
	clean, err := simplelru.NewLRU[uint64, *ExtentBuffer](math.MaxInt, nil)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c := &Cache{dev: dev, cmap: cmap, ctx: ctx, opts: opts, nodesize: int64(ctx.NodeSize), logw: logw}
	c.slack = opts.Budget / 64 / c.nodesize * c.nodesize
	c.mu.index = newBufIndex()
	c.mu.clean = clean
	c.mu.dirty.order = opts.Order
	c.arena = newArena(int(c.nodesize), opts.Budget)
	c.mu.loading = make(map[uint64]chan struct{})
	c.lastCommitted.Store(ctx.SuperGeneration)
	c.startFlusher()
	return c, nil
}

// NodeSize is the size of every buffer.
func (c *Cache) NodeSize() uint32 { return uint32(c.nodesize) }

// Options returns the options the cache was made with.
func (c *Cache) Options() Options { return c.opts }

// Find returns the cached, up-to-date buffer at bytenr with a new reference,
// or nil. It never does I/O and never verifies: ctree uses it to decide
// whether it must release its path and read (restart). It takes only a
// read lock of one index shard, never the cache mutex.
func (c *Cache) Find(bytenr uint64) *ExtentBuffer {
	eb := c.mu.index.ref(bytenr)
	if eb == nil {
		c.stats.findMisses.Add(1)
		return nil
	}
	c.stats.findHits.Add(1)
	return eb
}

// Create returns a new zeroed buffer for bytenr with one reference,
// Uptodate and not Dirty: the target of a COW or a new block. It may run
// reclaim first. A clean, unreferenced buffer cached at bytenr (the block's
// previous life) is dropped; one in use is an error (ErrInUse), as is an
// address that is not sector-aligned or not mapped.
func (c *Cache) Create(bytenr uint64) (*ExtentBuffer, error) {
	if bytenr%uint64(c.ctx.SectorSize) != 0 {
		return nil, fmt.Errorf("cache: create block %d: not aligned to sectorsize %d", bytenr, c.ctx.SectorSize)
	}
	if _, err := c.cmap.Copies(bytenr, uint64(c.nodesize)); err != nil {
		return nil, fmt.Errorf("cache: create block %d: %w", bytenr, err)
	}
	if err := c.claimCreate(bytenr); err != nil {
		return nil, err
	}
	c.reserve()
	eb := c.newBuffer(bytenr, true)
	eb.set(Uptodate)
	c.install(eb)
	c.stats.creates.Add(1)
	return eb, nil
}

// claimCreate drops an unused old buffer at bytenr and registers the
// caller as the one making the new buffer.
func (c *Cache) claimCreate(bytenr uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.mu.loading[bytenr]; busy {
		return fmt.Errorf("cache: create block %d: %w (being read)", bytenr, ErrInUse)
	}
	if old, ok := c.mu.index.Peek(bytenr); ok {
		if !c.dropUnusedLocked(old, Dirty|Writeback, false) {
			return fmt.Errorf("cache: create block %d: %w (refs %d, flags %#x)",
				bytenr, ErrInUse, old.refs.Load(), old.flags.Load())
		}
		old.set(Stale)
		old.freeData()
	}
	c.mu.loading[bytenr] = make(chan struct{})
	return nil
}

// install puts a freshly read or made buffer, with one reference, into the
// index and at the recent end of the clean LRU, and wakes whoever waited for
// it. Its bytes were reserved already.
func (c *Cache) install(eb *ExtentBuffer) {
	eb.refs.Store(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.index.add(eb)
	c.cleanAddLocked(eb)
	c.endLoadLocked(eb.Bytenr)
}

// endLoadLocked ends the load of bytenr and wakes its waiters.
// REQUIRES: c.mu.
func (c *Cache) endLoadLocked(bytenr uint64) {
	if ch, ok := c.mu.loading[bytenr]; ok {
		delete(c.mu.loading, bytenr)
		close(ch)
	}
}

// removeLocked takes eb out of the index, if it is the buffer indexed at its
// address, and out of the reclaim order, and gives back its bytes.
// REQUIRES: c.mu.
func (c *Cache) removeLocked(eb *ExtentBuffer) bool {
	sh := c.mu.index.shard(eb.Bytenr)
	sh.Lock()
	defer sh.Unlock()
	return c.removeShardLocked(sh, eb)
}

// removeShardLocked is removeLocked with the shard's write lock held.
// REQUIRES: c.mu, sh write-locked.
func (c *Cache) removeShardLocked(sh *indexShard, eb *ExtentBuffer) bool {
	if sh.m[eb.Bytenr] != eb {
		return false
	}
	delete(sh.m, eb.Bytenr)
	c.cleanRemoveLocked(eb)
	c.mu.dirty.forget(eb)
	c.mu.bytes -= c.nodesize
	return true
}

// dropUnusedLocked removes eb from the cache if it is unreferenced, has none
// of the flags in busy, is not pinned (with pinned) and its write lock is
// free. The reference count is checked under the shard's write lock, under
// which alone (or c.mu) a reference on an unreferenced buffer is taken, so
// none can appear before eb is gone. REQUIRES: c.mu.
func (c *Cache) dropUnusedLocked(eb *ExtentBuffer, busy Flag, pinned bool) bool {
	unused := func() bool {
		return eb.refs.Load() == 0 && !eb.Has(busy) && !(pinned && eb.WritebackBlockers() > 0)
	}
	if !unused() { // cheap test before the locks
		return false
	}
	sh := c.mu.index.shard(eb.Bytenr)
	sh.Lock()
	defer sh.Unlock()
	if !unused() || !eb.TryLock() {
		return false
	}
	defer eb.Unlock()
	return c.removeShardLocked(sh, eb)
}

// Ref takes one more reference on eb, on which the caller already holds one
// (so it cannot be evicted meanwhile), and returns eb. Unlike Find it also
// works on a discarded buffer and is not counted in the figures. Calling it
// without holding a reference is a bug (panic).
func (c *Cache) Ref(eb *ExtentBuffer) *ExtentBuffer {
	if eb.refs.Add(1) <= 1 {
		panic(fmt.Sprintf("cache: Ref of block %d without holding a reference", eb.Bytenr))
	}
	return eb
}

// Release drops one reference. When the last one goes from a dirty buffer
// while dirty bytes are at the threshold, the flusher is woken: the buffer
// has just become writable.
func (c *Cache) Release(eb *ExtentBuffer) {
	n := eb.refs.Add(-1)
	if n < 0 {
		panic(fmt.Sprintf("cache: Release of block %d without a reference", eb.Bytenr))
	}
	if n == 0 && eb.Has(Stale) {
		// Discarded: out of the index and the dirty order, so nobody can
		// take a new reference; its bytes can go.
		eb.freeData()
		return
	}
	if n == 0 && eb.Has(Dirty) && c.dirtyBytes.Load() >= c.opts.dirtyThreshold() {
		c.flusher.wake()
	}
}

// MarkDirty marks eb dirty on behalf of transaction transid and records it
// as the most recently dirtied buffer (OrderLRU). The caller holds eb's
// write lock and a reference. Marking a discarded buffer is a bug (panic).
func (c *Cache) MarkDirty(eb *ExtentBuffer, transid uint64) {
	if eb.Has(Stale) {
		panic(fmt.Sprintf("cache: MarkDirty of discarded block %d", eb.Bytenr))
	}
	c.mu.Lock()
	c.mu.seq++
	eb.dirtySeq = c.mu.seq
	eb.transid.Store(transid)
	if !eb.Has(Dirty) {
		eb.set(Dirty)
		c.dirtyBytes.Add(c.nodesize)
		c.cleanRemoveLocked(eb)
	}
	c.mu.dirty.mark(eb)
	c.mu.Unlock()
	if c.dirtyBytes.Load() >= c.opts.dirtyThreshold() {
		c.flusher.wake()
	}
}

// takeDirtyLocked clears Dirty and its accounting; it reports whether the
// buffer was dirty. The buffer leaves the writeback order and, if it is
// still cached, joins the clean LRU at its recent end. REQUIRES: c.mu.
func (c *Cache) takeDirtyLocked(eb *ExtentBuffer) bool {
	if !eb.testAndClear(Dirty) {
		return false
	}
	c.dirtyBytes.Add(-c.nodesize)
	c.mu.dirty.forget(eb)
	if cur, ok := c.mu.index.Peek(eb.Bytenr); ok && cur == eb {
		c.cleanAddLocked(eb)
	}
	return true
}

// Discard is for a block freed by the transaction that created it, whose
// bytes are not needed on disk: it clears Dirty without writing, marks the
// buffer Stale and takes it out of the cache at once (Find and Get no longer
// see it; Create may reuse the address). Its memory goes with its last
// reference. The caller holds eb's write lock and a reference.
func (c *Cache) Discard(eb *ExtentBuffer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	eb.set(Stale)
	c.removeLocked(eb)
	c.takeDirtyLocked(eb)
	c.stats.discards.Add(1)
}

// SetLastCommitted records the generation of the last committed
// transaction, which is the superblock's generation: the write-time checker
// rejects any block not newer (#24), and both checkers (read and write)
// accept item generations up to gen+1 (the running transaction).
func (c *Cache) SetLastCommitted(gen uint64) { c.lastCommitted.Store(gen) }

// checkContext is the checker context with the superblock generation of the
// last commit.
func (c *Cache) checkContext() checker.Context {
	ctx := c.ctx
	ctx.SuperGeneration = c.lastCommitted.Load()
	return ctx
}

// LastCommitted is the generation SetLastCommitted last recorded.
func (c *Cache) LastCommitted() uint64 { return c.lastCommitted.Load() }

// OnWriteError sets how WriteErr surfaces to the owner of the block's
// transaction (eb.DirtyTransid()): fn is called for every buffer whose write
// failed or was refused by the write-time checker, after the buffer is
// unlocked, on the goroutine doing the writeback (a reclaiming caller, the
// flusher, or the committer). A reclaiming caller may be inside Get or
// Create with tree locks held, so fn must not take tree locks nor wait for
// anything that might; it should record the error (abort the transaction)
// and return. nil removes it.
func (c *Cache) OnWriteError(fn func(eb *ExtentBuffer, err error)) {
	if fn == nil {
		c.onWriteErr.Store(nil)
		return
	}
	c.onWriteErr.Store(&fn)
}

// Close stops the flusher. It writes nothing: it returns an error wrapping
// ErrUnwritten when dirty buffers remain, or buffers whose last write
// failed, so nothing is ever dropped silently. The cache stays usable
// (FlushAll and Close again).
func (c *Cache) Close() error {
	c.flusher.stop()
	dirty, failed := 0, 0
	c.mu.Lock()
	for _, eb := range c.mu.index.Values() {
		switch {
		case eb.Has(Dirty):
			dirty++
		case eb.Has(WriteErr):
			failed++
		}
	}
	c.mu.Unlock()
	if dirty+failed > 0 {
		return fmt.Errorf("cache: close: %w: %d dirty, %d with a failed write", ErrUnwritten, dirty, failed)
	}
	return nil
}

// indexShards is the number of shards of bufIndex (a power of two).
const indexShards = 64

// bufIndex maps addresses to cached buffers. It is changed only with the
// cache mutex and the shard's write lock held; it is read under either the
// cache mutex or the shard's read lock. A reference on an unreferenced
// buffer is taken only under one of those (Find and Get hits: the shard's
// read lock; reclaim's claim: c.mu), and a buffer is removed only under both
// after checking that it is unreferenced, so none can appear meanwhile.
type bufIndex struct {
	shards [indexShards]indexShard
}

type indexShard struct {
	sync.RWMutex
	m map[uint64]*ExtentBuffer
	_ [32]byte // a cache line per shard: hits on different shards do not contend
}

func newBufIndex() *bufIndex {
	x := &bufIndex{}
	for i := range x.shards {
		x.shards[i].m = make(map[uint64]*ExtentBuffer)
	}
	return x
}

// shard is where bytenr lives (a Fibonacci hash: adjacent blocks spread).
func (x *bufIndex) shard(bytenr uint64) *indexShard {
	return &x.shards[(bytenr*0x9E3779B97F4A7C15)>>(64-6)]
}

// ref returns the up-to-date buffer at bytenr with a new reference, marked
// used for reclaim, or nil.
func (x *bufIndex) ref(bytenr uint64) *ExtentBuffer {
	sh := x.shard(bytenr)
	sh.RLock()
	eb := sh.m[bytenr]
	if eb != nil && eb.Has(Uptodate) {
		eb.refs.Add(1)
	} else {
		eb = nil
	}
	sh.RUnlock()
	if eb != nil {
		eb.touch()
	}
	return eb
}

// Peek returns the buffer at bytenr without a reference.
func (x *bufIndex) Peek(bytenr uint64) (*ExtentBuffer, bool) {
	sh := x.shard(bytenr)
	sh.RLock()
	defer sh.RUnlock()
	eb, ok := sh.m[bytenr]
	return eb, ok
}

// add indexes eb. REQUIRES: c.mu.
func (x *bufIndex) add(eb *ExtentBuffer) {
	sh := x.shard(eb.Bytenr)
	sh.Lock()
	sh.m[eb.Bytenr] = eb
	sh.Unlock()
}

// Values returns every cached buffer, in no particular order.
func (x *bufIndex) Values() []*ExtentBuffer {
	var out []*ExtentBuffer
	for i := range x.shards {
		sh := &x.shards[i]
		sh.RLock()
		for _, eb := range sh.m {
			out = append(out, eb)
		}
		sh.RUnlock()
	}
	return out
}

// Len is the number of cached buffers.
func (x *bufIndex) Len() int {
	n := 0
	for i := range x.shards {
		sh := &x.shards[i]
		sh.RLock()
		n += len(sh.m)
		sh.RUnlock()
	}
	return n
}
