package cache

import (
	"sync"
	"sync/atomic"

	"github.com/ncw/directio"

	"cowfs/disk/format"
)

// Flag is a state bit of an extent buffer.
type Flag uint32

// Extent buffer state bits. The header's WRITTEN bit is not here: it lives in
// the block's bytes, as on disk (format.Header.Written).
const (
	Uptodate  Flag = 1 << iota // bytes are valid (read and verified, or created)
	Dirty                      // modified since last written; must be written before eviction
	Writeback                  // a write of these bytes is in flight
	WriteErr                   // the last write failed
	Stale                      // discarded: out of the cache, freed with its last reference
)

// ExtentBuffer holds the bytes of one tree block with its state, a reference
// count, a tree lock and a writeback-blocker count.
//
// Lock nesting: tree locks are taken top-down (parent before child) and,
// between siblings, left before right. The cache's own mutex is never held
// while waiting for a tree lock. Writeback takes the write lock of the buffer
// it writes (try-lock from reclaim and the flusher, blocking from commit and
// fsync) and holds it across the I/O. It never waits for a lock while holding
// another: the later buffers of a merged run of adjacent blocks are taken
// with try-lock only (see the package doc).
type ExtentBuffer struct {
	Bytenr uint64
	data   []byte // nodesize bytes; aligned for O_DIRECT

	flags atomic.Uint32
	refs  atomic.Int32
	lock  sync.RWMutex

	// writebackBlockers > 0 keeps writeback from writing (and so from
	// clearing DIRTY and setting WRITTEN): COW policies pin blocks with it.
	writebackBlockers atomic.Int32

	dirtySeq uint64        // order of the last MarkDirty (OrderLRU); guarded by the cache's mutex
	transid  atomic.Uint64 // transaction that last dirtied it (set by MarkDirty)
}

// newExtentBuffer returns a zeroed buffer of size bytes, aligned for O_DIRECT.
func newExtentBuffer(bytenr uint64, size int) *ExtentBuffer {
	return &ExtentBuffer{Bytenr: bytenr, data: directio.AlignedBlock(size)}
}

// DirtyTransid is the transaction that last marked the buffer dirty (0 if
// none): whoever receives a write error uses it to find the transaction that
// owns the block.
func (eb *ExtentBuffer) DirtyTransid() uint64 { return eb.transid.Load() }

// Data returns the block's bytes. Writers must hold the write lock.
func (eb *ExtentBuffer) Data() []byte { return eb.data }

// Header, Leaf and Node are byte views of the block.
func (eb *ExtentBuffer) Header() format.Header { return format.Header(eb.data) }
func (eb *ExtentBuffer) Leaf() format.Leaf     { return format.Leaf(eb.data) }
func (eb *ExtentBuffer) Node() format.Node     { return format.Node(eb.data) }

// Len is the block size.
func (eb *ExtentBuffer) Len() int { return len(eb.data) }

// Has reports whether flag f is set.
func (eb *ExtentBuffer) Has(f Flag) bool { return Flag(eb.flags.Load())&f != 0 }

func (eb *ExtentBuffer) set(f Flag) { eb.flags.Or(uint32(f)) }

func (eb *ExtentBuffer) clear(f Flag) { eb.flags.And(^uint32(f)) }

// testAndClear clears f and reports whether it was set.
func (eb *ExtentBuffer) testAndClear(f Flag) bool {
	return Flag(eb.flags.And(^uint32(f)))&f != 0
}

// Refs is the current reference count (for tests and figures).
func (eb *ExtentBuffer) Refs() int32 { return eb.refs.Load() }

// Tree lock: a read/write lock with blocking and try variants.
func (eb *ExtentBuffer) Lock()          { eb.lock.Lock() }
func (eb *ExtentBuffer) Unlock()        { eb.lock.Unlock() }
func (eb *ExtentBuffer) RLock()         { eb.lock.RLock() }
func (eb *ExtentBuffer) RUnlock()       { eb.lock.RUnlock() }
func (eb *ExtentBuffer) TryLock() bool  { return eb.lock.TryLock() }
func (eb *ExtentBuffer) TryRLock() bool { return eb.lock.TryRLock() }

// BlockWriteback increments the writeback-blocker count: until the matching
// UnblockWriteback, writeback skips the buffer and it stays dirty. Call it
// with the buffer write-locked, so no writeback is between its check and
// its clearing of DIRTY.
func (eb *ExtentBuffer) BlockWriteback() { eb.writebackBlockers.Add(1) }

// UnblockWriteback undoes one BlockWriteback.
func (eb *ExtentBuffer) UnblockWriteback() {
	if eb.writebackBlockers.Add(-1) < 0 {
		panic("cache: writeback blocker count went negative")
	}
}

// WritebackBlockers is the current blocker count.
func (eb *ExtentBuffer) WritebackBlockers() int32 { return eb.writebackBlockers.Load() }
