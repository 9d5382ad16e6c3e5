package cache

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ncw/directio"
	"golang.org/x/sys/unix"

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
	arena  *arena // where data comes from
	freed  atomic.Bool

	flags atomic.Uint32
	refs  atomic.Int32
	lock  sync.RWMutex

	// io is held from just before WRITEBACK is set until just after it is
	// cleared, so that a commit can wait for a write in flight when the
	// lock is not held across the I/O (IOUnlocked, IOBounce): waitIO.
	io sync.Mutex

	// writebackBlockers > 0 keeps writeback from writing (and so from
	// clearing DIRTY and setting WRITTEN): COW policies pin blocks with it.
	writebackBlockers atomic.Int32

	transid atomic.Uint64 // transaction that last dirtied it (set by MarkDirty)

	// used is set by a hit (Find, Get) and cleared by reclaim, which moves
	// a used buffer to the recent end of the clean LRU instead of evicting
	// it (see touch).
	used atomic.Bool

	// Reclaim order, guarded by the cache's mutex.
	dirtySeq uint64 // order of the last MarkDirty (OrderLRU)
	dirtyGen uint64 // generation of its live entry in the dirty heap; 0: none
	inClean  bool   // in the clean LRU
}

// newBuffer returns a buffer for bytenr from the cache's arena, aligned for
// O_DIRECT; zeroed unless the caller overwrites it all.
func (c *Cache) newBuffer(bytenr uint64, zero bool) *ExtentBuffer {
	return &ExtentBuffer{Bytenr: bytenr, data: c.arena.get(zero), arena: c.arena}
}

// freeData gives eb's bytes back to its arena. It is called once eb has
// left the cache with no reference held (evicted, or discarded and
// released), after which nobody may touch eb's bytes: the slot goes to the
// next buffer, and eb's data is nil, so a stray access panics instead of
// reading another block. It may be called twice (Release of a buffer that
// Create drops as Stale at the same moment): only the first call frees.
func (eb *ExtentBuffer) freeData() {
	if eb.freed.CompareAndSwap(false, true) {
		eb.arena.put(eb.data)
		eb.data = nil
	}
}

// touch records a hit for reclaim. A hit does not move the buffer in the
// LRU (that would need the cache mutex on every Find): it sets used, which
// reclaim turns into a move to the recent end when the buffer reaches the
// old end (a second chance, as the kernel's page LRU does with its
// referenced bit). The store is skipped when the bit is already set, so hot
// buffers' cache lines stay clean.
func (eb *ExtentBuffer) touch() {
	if !eb.used.Load() {
		eb.used.Store(true)
	}
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

// waitIO returns once no write of eb is in flight.
func (eb *ExtentBuffer) waitIO() {
	eb.io.Lock()
	eb.io.Unlock() //nolint:staticcheck // an empty critical section: a wait
}

// WritebackBlockers is the current blocker count.
func (eb *ExtentBuffer) WritebackBlockers() int32 { return eb.writebackBlockers.Load() }

// Buffer memory. A cache takes its buffers' bytes from an arena of
// anonymous mappings rather than from the Go heap. Mappings of 2 MiB or
// more (budgets of 16 MiB or more) are 2 MiB-aligned and advised
// MADV_HUGEPAGE, so that the kernel (transparent huge pages, "always" or
// "madvise") backs them with huge pages: a search of a tree of hundreds of
// MiB touches blocks at random, and with 4 KiB pages nearly every block
// costs a TLB miss and a page-table walk (a nested one in a virtual
// machine), while the huge pages of a few GiB fit the TLB. Slots are
// nodesize-aligned (O_DIRECT needs no bounce buffer) and go back to the
// arena's free list when their buffer leaves the cache unreferenced
// (freeData), so a miss allocates nothing on the Go heap. The mappings are
// unmapped when the arena, which every buffer from it references, becomes
// unreachable.

const hugePage = 2 << 20

type arena struct {
	slot  int // bytes per buffer: the nodesize
	chunk int // bytes per mapping

	mu   sync.Mutex
	free [][]byte // slots given back
	tail []byte   // unused slots of the newest mapping
	maps *arenaMaps
}

// arenaMaps holds an arena's mappings, apart from the arena so that it can
// be handed to the cleanup that unmaps them.
type arenaMaps struct {
	mu sync.Mutex
	m  [][]byte
}

// newArena returns an arena of slot-byte buffers for a cache of budget
// bytes: mappings of budget/8 (at least 16 slots, at most 64 MiB; whole huge
// pages from 2 MiB on).
func newArena(slot int, budget int64) *arena {
	chunk := max(budget/8, 16*int64(slot))
	if chunk >= hugePage {
		chunk = min(chunk, 64<<20) / hugePage * hugePage
	} else {
		chunk = chunk / int64(slot) * int64(slot)
	}
	a := &arena{slot: slot, chunk: int(chunk), maps: &arenaMaps{}}
	runtime.AddCleanup(a, (*arenaMaps).unmap, a.maps)
	return a
}

// get returns a slot, zeroed if zero (a new mapping is zero already).
func (a *arena) get(zero bool) []byte {
	a.mu.Lock()
	if n := len(a.free); n > 0 {
		b := a.free[n-1]
		a.free[n-1] = nil
		a.free = a.free[:n-1]
		a.mu.Unlock()
		if zero {
			clear(b)
		}
		return b
	}
	if len(a.tail) < a.slot && !a.grow() {
		a.mu.Unlock()
		return directio.AlignedBlock(a.slot) // no mapping: the Go heap (the free list may keep it)
	}
	b := a.tail[:a.slot:a.slot]
	a.tail = a.tail[a.slot:]
	a.mu.Unlock()
	return b
}

// put gives a slot back.
func (a *arena) put(b []byte) {
	a.mu.Lock()
	a.free = append(a.free, b)
	a.mu.Unlock()
}

// grow maps one more chunk, huge-page aligned and advised if it is whole
// huge pages. REQUIRES: a.mu.
func (a *arena) grow() bool {
	huge := a.chunk%hugePage == 0
	size := a.chunk
	if huge {
		size += hugePage // room to align
	}
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	a.maps.mu.Lock()
	a.maps.m = append(a.maps.m, m)
	a.maps.mu.Unlock()
	if !huge {
		a.tail = m
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	off := int((hugePage - start%hugePage) % hugePage)
	a.tail = m[off : off+a.chunk]
	_ = unix.Madvise(a.tail, unix.MADV_HUGEPAGE) // best effort: plain pages without it
	return true
}

// unmap releases every mapping; the arena and all its buffers are gone.
func (m *arenaMaps) unmap() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.m {
		_ = unix.Munmap(b)
	}
	m.m = nil
}
