// Package ctree is the copy-on-write B-tree of cowfs: the kernel's ctree.c
// rebuilt from its documented behaviour (no kernel or btrfs-progs code is
// copied or translated). It holds keys and paths, SearchSlot with lock
// coupling and restarts, COW of tree blocks through the one predicate
// shouldCOW (cow_policy.go), leaf and node split, push and merge, item
// insertion, deletion, growth and truncation, leaf stepping and range scans,
// Verify, and per-tree figures.
//
// # Blocks, trees, transactions
//
// Tree blocks are cache.ExtentBuffers; their bytes are read and written only
// through the disk/format views (Header, Leaf, Node). A Root is one tree: its
// id (the owner of its blocks) and a reference to its root block. Env holds
// what the trees of a filesystem share (cache, checker context, options). A
// modifying operation runs under a Trans, the interface ctree declares for
// the transaction handle: it charges the reservation and allocates a block
// for each COW and each new block, frees replaced blocks, and collects dirty
// blocks.
//
// # SearchSlot
//
// SearchSlot(trans, root, key, path, insLen, cow) walks from the root to the
// leaf holding key, leaving the path at the key's slot or where it would be
// inserted. With cow, every block on the way that the COW policy selects is
// copied first (charge, allocate, copy, generation = transid, owner, WRITTEN
// cleared, parent pointer or root repointed, old block freed — discarded if
// this transaction created it and never wrote it). insLen > 0 makes room for
// an insert on the way down (node splits, then leaf push or split); insLen <
// 0 keeps nodes full enough for a delete (root shrink, node merge or refill).
// Fill thresholds are in search.go, split.go and balance.go: nodes split at
// MaxKeyPtrs-3 pointers, rebalance below MaxKeyPtrs/4 and merge when both
// fit in 3/4 of a node; leaves are merged after a delete below 1/4 of their
// data area in use.
//
// # Locks
//
// Each block has a read/write tree lock. The order is top-down (parent
// before child), and between neighbours left before right:
//
//   - A search read-locks the levels above writeLockLevel and write-locks
//     those at and below it. It holds a block's lock until it has decided the
//     block's child cannot make it change (lock coupling): then the levels
//     above are unlocked, except the chain of parents whose key a fix-up may
//     rewrite (the path went through slot 0 and the operation may change the
//     first key below) and, for a delete, the leaf's parent.
//   - A left neighbour is locked (waiting) only with the common parent
//     write-locked; a right neighbour is only ever try-locked. So whoever
//     holds a left block never waits for anything right of it, and no cycle
//     of waits can form. A failed try-lock restarts the search, or skips an
//     optional step (a leaf push, a leaf merge after delete).
//   - Root.mu guards only the root pointer and is never held while waiting
//     for a tree lock: a search reads the pointer, locks the block, and checks
//     it is still the root (else it retries).
//   - The cache's own mutex comes after tree locks; the cache only try-locks
//     tree locks (reclaim, flusher) or locks them with none held (commit).
//
// A goroutine holding a path must not start another search on the same
// tree. Iterators hold no lock between calls.
//
// # Restarts
//
// A lock is never upgraded and no block is read with locks held. When the
// next child is not cached, the whole path is released, the block is read
// (cache.Get) with no lock held, its reference dropped, and the search
// starts again from the root. When a COW, split, merge or key fix-up needs a
// write lock on a level that was read-locked, writeLockLevel is raised to it
// and the search restarts; likewise when a try-lock of a right neighbour
// that a node merge needs fails. Each restart is counted by cause
// (Stats.Restarts); the unexported restart error never leaves the package.
// Releasing the path drops its references too: a block COWed before the
// restart becomes dirty and unreferenced, reclaim may write it back
// (setting WRITTEN), and under the `always` policy the next walk COWs it
// again — the amplification loop of docs/problem.md, counted as a re-COW.
//
// Dropping the reference of the block just read is the kernel's behaviour,
// and under a budget too small for a path beside the dirty blocks it can
// livelock (reclaim evicts the clean block read last before it writes any
// dirty one). Options.HoldReadsAfter bounds it: after that many reads in one
// SearchSlot (default 8), the blocks it reads stay referenced, unlocked,
// until it returns; -1 keeps the kernel's unbounded behaviour.
//
// # Figures
//
// Root.Stats returns per-tree counters: COWs and re-COWs per level, the
// blocks COWed per SearchSlot (maximum and histogram), restarts by cause,
// splits, pushes, merges, root growth and shrinkage. Derived figures carry
// their formula in their doc comment (ReCOWRatio = re-COWs / COWs).
package ctree
