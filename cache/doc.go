// Package cache holds extent buffers — the bytes of one tree block with their
// flags, reference count, tree lock and writeback blockers — in a
// memory-budgeted LRU keyed by logical address, reads and verifies blocks,
// and writes dirty buffers back with checksums and the write-time tree
// checker. It is the layer where the COW amplification loop of THREAD.md
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
// Options.Budget: evict clean unreferenced buffers, least recently used first
// (the LRU order is a simplelru list used only as an ordered index; the cache
// makes every eviction decision); if still over, write back dirty
// unreferenced buffers in Options.Order — lowest address first, or least
// recently dirtied first — and evict them; if still over, admit the buffer
// anyway and count Stats.OverBudget. Referenced, locked (try-lock fails),
// pinned (WritebackBlockers() > 0) and under-writeback buffers are skipped,
// and so are buffers whose last write failed (their bytes exist nowhere
// else). Reclaim never waits for a tree lock and never drops a dirty buffer.
//
// The flusher goroutine (started by New, stopped by Close) does the same
// writeback, without evicting, when dirty bytes reach Options.DirtyThreshold,
// until they are at most half of it. It runs concurrently with its callers;
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
// The lock is held across the write (steps 1–8): a writer that wants to
// modify the block waits until its I/O has completed, as in today's kernel,
// so the bytes on disk are exactly the bytes checked and checksummed, and a
// commit that locks a buffer another goroutine is writing returns only after
// that write is done. Writing from a private copy so writers need not wait
// (the thread's "bounce" idea) is a later option.
//
// Buffers of one batch are written sorted by address; a run of adjacent
// blocks whose copies are also adjacent becomes one device write per copy
// (at most 1 MiB), from an aligned staging copy. The first buffer of a run is
// locked as the cause demands; the later ones only with try-lock (a failure
// ends the run), so writeback never waits for a lock while holding another.
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
//	    → nothing: under Cache.mu the cache only try-locks tree locks
//
// A goroutine holding tree locks may call Get, Find, Create, Release,
// MarkDirty and Discard: reclaim in Get and Create only try-locks and does its
// I/O without Cache.mu. It must not call WriteDirty or FlushAll on a buffer it
// has locked (the blocking lock would wait for itself). The cache mutex is
// never held across I/O, a blocking tree lock or the OnWriteError callback,
// which runs after every lock of its batch is released.
//
// A reference on an unreferenced buffer is taken only under Cache.mu (Get,
// Find, Create; Ref needs one held already), so a buffer seen unreferenced
// there stays so while the mutex is held: that is what makes eviction safe.
// Reclaim and the flusher claim the buffers they write with a reference, so
// two of them never write the same buffer.
//
// # Figures
//
// Stats is a snapshot of plain counters (hits, misses, evictions, writebacks
// by cause, blocked and locked skips, device writes, bytes written, write
// errors, over-budget admissions) and of the current size; derived figures
// (hit ratio) carry their formula in their doc comment.
package cache
