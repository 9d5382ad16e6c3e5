// Package cache holds extent buffers — the bytes of one tree block with their
// flags, reference count, tree lock and writeback blockers — in a
// memory-budgeted LRU keyed by logical address, reads and verifies blocks,
// and writes dirty buffers back with checksums and the write-time tree
// checker. It is the layer where the COW amplification loop of docs/problem.md
// happens: reclaim and the flusher write back blocks a search has just COWed,
// setting their WRITTEN flag.
//
// # Reading
//
// Get(exp) returns a cached buffer as is. On a miss it reserves room (which
// may run reclaim), reads the block's copies through the chunk map and
// accepts the first that passes checker.CheckBlock against exp (checksum,
// bytenr, fsid, level, generation, first key, owner, then structure). A
// block that fails is never cached; Get returns the checker's *checker.Error
// (errors.Is format.ErrCorrupt). The checkers bound item generations by the
// generation of the last commit (SetLastCommitted), as the kernel bounds them
// by the superblock's. Find never reads: ctree uses a nil Find to release its
// path and restart. Create makes a zeroed buffer for a COW target or a new
// block. Get, Find and Create return a reference; Ref adds one to a held
// buffer; Release drops one.
//
// # Reclaim
//
// When a new buffer (Get miss or Create) would take the cached bytes over
// Options.Budget: evict clean unreferenced buffers, least recently used first;
// if still over, write back dirty unreferenced buffers in Options.Order —
// lowest address first, or least recently dirtied first — and evict them; if
// still over, admit the buffer anyway and count Stats.OverBudget. Referenced,
// locked (try-lock fails), pinned (WritebackBlockers() > 0) and
// under-writeback buffers are skipped, and so are buffers whose last write
// failed (their bytes exist nowhere else). Reclaim never waits for a tree
// lock and never drops a dirty buffer. Once it runs it goes down to the
// budget minus a slack of Budget/64 (whole nodes; none under 64 nodes), so
// that it runs once per batch of new buffers; it writes dirty buffers only
// when the clean ones cannot make room for the one new buffer.
//
// A pass costs what it evicts or writes, not what the cache holds. Besides
// the index (by address), reclaim keeps two orders under Cache.mu: the
// clean LRU, a simplelru list of the clean buffers used only as an ordered
// index (the cache makes every eviction decision), and a heap of the dirty
// buffers by Options.Order (key: address, or the sequence number of the last
// MarkDirty). A buffer joins the clean LRU at its recent end when it is read,
// created or written back, and moves to the heap when it is dirtied.
// Evicting a clean buffer is O(1) amortized; writing back a dirty one is
// O(log d) for d dirty buffers (a push when dirtied, a pop). golang-lru fits
// the clean order because reclaim only needs its oldest entry, to move an
// entry to the recent end, and to remove one by key; it cannot hold the
// dirty order, which writeback must walk in order without moving anything
// (a skipped buffer keeps its place), hence the heap. A pass pops the dirty
// candidates it tries and puts back, at the end, those still dirty, so each
// buffer is tried once per pass and keeps its place.
//
// LRU order is approximate, as in the kernel's page LRU: a hit (Find, Get)
// does not take Cache.mu to move the buffer, it sets the buffer's used bit;
// reclaim, finding a used buffer at the old end, clears the bit and moves it
// to the recent end instead of evicting it (a second chance). A pass looks
// at each clean buffer at most twice, so a used clean buffer still goes
// before any dirty buffer is written. Buffers passed over because they are
// in use (referenced, locked, pinned, under writeback) move to the recent
// end too.
//
// The flusher goroutine (started by New, stopped by Close) does the same
// writeback, without evicting, when dirty bytes reach Options.DirtyThreshold
// (by default the budget: a dirty block is written early only when the
// cache needs its room), until they are at most half of it. It runs concurrently with its callers;
// a deterministic run (one goroutine, the amplification loop) disables it
// with DirtyThreshold = math.MaxInt64, leaving reclaim, which runs on the
// caller's goroutine, as the only writeback besides commit.
//
// # Writeback of one buffer
//
// Every writeback — reclaim, flusher, WriteDirty and FlushAll for commit and
// fsync — goes through one function, in this order:
//
//  1. take the buffer's write lock: try-lock for reclaim and the flusher
//     (a failure skips the buffer, Stats.LockedSkips), blocking for commit
//     and fsync;
//  2. if WritebackBlockers() > 0, skip it: it stays dirty (Stats.BlockedSkips;
//     WriteDirty reports ErrWritebackBlocked);
//  3. clear DIRTY, set WRITEBACK and the header's WRITTEN bit;
//  4. checksum the block (ctx.CsumType.SetBlockCsum);
//  5. run checker.CheckWrite with the last committed generation. A failure
//     is a bug in the code that built or re-dirtied the block: it is logged
//     to stderr with the checker's message, the block is NOT written, it
//     gets WRITE_ERR (and goes to OnWriteError, step 9);
//  6. write every copy (ChunkMap.Copies: two for DUP) with
//     dev.WriteAt(…, disk.KindMeta), O_DIRECT on a file device (buffers are
//     allocated aligned, so no bounce copy);
//  7. clear WRITEBACK; on an I/O error set WRITE_ERR;
//  8. release the lock;
//  9. once every lock of the batch is released, hand each failure (step 5
//     or 7) to the OnWriteError callback, which surfaces it to the owner of
//     the block's transaction (ExtentBuffer.DirtyTransid).
//
// With Options.IO = IOLocked (the default) the lock is held across the
// write (steps 1–8): a writer that wants to modify the block waits until its
// I/O has completed, so the bytes on disk are exactly the bytes checked and
// checksummed, and a commit that locks a buffer another goroutine is writing
// returns only after that write is done. IOUnlocked (the kernel's) releases
// the lock after step 5 and writes the buffer itself: writers must leave a
// block under WRITEBACK alone. IOBounce (the bounce COW policy) copies the
// checked bytes into a private buffer, releases the lock and writes the copy,
// so a writer may change the block during its I/O. In both, a buffer's io
// mutex is held while WRITEBACK is set: a commit or fsync that finds a write
// of a buffer in flight waits for it (ExtentBuffer.waitIO), and reclaim and
// the flusher skip the buffer (Stats.LockedSkips), so two writes of one
// address never overlap.
//
// Buffers of one batch are written sorted by address; a run of adjacent
// blocks whose copies are also adjacent becomes one device write per copy
// (at most Options.WritebackMaxIO, 1 MiB by default), from an aligned
// staging copy. Up to Options.WritebackDepth runs (32 by default) are
// written at once, each by a goroutine of its own that then ends the
// writeback of its buffers and unlocks them; the batch returns once every
// run is done, and reports failures in address order. The first buffer of a
// run is locked as the cause demands; the later ones only with try-lock (a
// failure ends the run); before waiting for a lock the batch waits for its
// runs in flight, so writeback never waits for a lock while holding another.
//
// WRITE_ERR is cleared when the buffer is written again. Discard is the only
// way a dirty buffer leaves without being written: for a block freed by the
// transaction that created it.
//
// # Locks
//
// Three kinds, taken in this order only:
//
//	tree locks (ExtentBuffer: top-down, left to right; ctree's business)
//	  → Cache.mu (held briefly; REQUIRES: c.mu on *Locked methods)
//	    → an index shard's lock (held briefly; a hit takes it alone)
//	      → nothing: under Cache.mu and shard locks the cache only
//	        try-locks tree locks
//
// A goroutine holding tree locks may call Get, Find, Create, Release,
// MarkDirty and Discard: reclaim in Get and Create only try-locks and does its
// I/O without Cache.mu. It must not call WriteDirty or FlushAll on a buffer it
// has locked (the blocking lock would wait for itself). The cache mutex is
// never held across I/O, a blocking tree lock or the OnWriteError callback,
// which runs after every lock of its batch is released.
//
// The index is sharded (64 shards, each with a read/write lock) so that a
// hit takes one shard's read lock and never Cache.mu; it is changed only
// with Cache.mu and the shard's write lock held. A reference on an
// unreferenced buffer is taken only under the shard's read lock (Find, Get)
// or Cache.mu (reclaim's claim; Create makes a new buffer; Ref needs one
// held already), and a buffer is evicted only with both held after checking
// that it is unreferenced, so no reference can appear meanwhile: that is
// what makes eviction safe. Shard locks come after Cache.mu, and under a
// shard's write lock the cache only try-locks a tree lock. Reclaim and the
// flusher claim the buffers they write with a reference, so two of them
// never write the same buffer.
//
// # Memory
//
// A cache takes its buffers' bytes from an arena of anonymous mappings
// (extent_buffer.go), 2 MiB-aligned and advised MADV_HUGEPAGE once they are
// 2 MiB or more (budgets from 16 MiB), rather than from the Go heap. A slot
// goes back to the arena when its buffer leaves the cache with no reference
// held: evicted, or discarded and then released. Its ExtentBuffer then has
// no bytes (Data() is nil): a buffer must not be touched once the last
// reference to it is dropped.
//
// # Figures
//
// Stats is a snapshot of plain counters (hits, misses, evictions, writebacks
// by cause, blocked and locked skips, device writes, bytes written, write
// errors, over-budget admissions) and of the current size; derived figures
// (hit ratio) carry their formula in their doc comment.
package cache
