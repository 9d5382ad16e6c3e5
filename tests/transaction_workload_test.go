package tests

// Proof by oracles (issue 4, point 7): a randomized workload through the
// transaction package on a cowfs mkfs image, checked against a model of
// every item it wrote and against three oracles — our fsck, btrfs check
// (original and lowmem) and the kernel.
//
// Each transaction runs many handles of a few operations each (files,
// directories, xattrs up to leaf size with forged name-hash collisions,
// subvolumes), sometimes several goroutines at once in different
// directories; then an explicit commit, after which the allocator's
// accounting and the transaction layer's figures are checked. Every few
// commits the image is closed, checked by the oracles, reopened and
// compared with the model item for item; a few times per run the kernel
// mounts it, reads a sample of our names and xattrs, adds a file and a
// directory, and the workload continues on the kernel's image.
//
// The cache is tiny and the flusher's threshold low, so reclaim and the
// flusher write blocks in the middle of transactions; reservations are
// strict, so an overspent handle aborts the run.
//
// Rerun a failure with its printed seed:
//
//	go test ./tests -run 'TestTransactionWorkload/16K' -txn.seed=N -v
//
// and make a long run with -txn.transactions and -txn.ops. A seed fixes
// the operations, names, values and inode numbers; the interleaving of
// the concurrent phases, the flusher's timing and so the trees' shapes
// (and the commits Start makes on its own when a reserve cannot be
// promised) may vary between reruns.

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
	"cowfs/transaction"
)

var (
	txnSeedFlag         = flag.Uint64("txn.seed", 0, "seed of TestTransactionWorkload (0: time-based)")
	txnTransactionsFlag = flag.Int("txn.transactions", 0, "transactions per TestTransactionWorkload run (0: the default)")
	txnOpsFlag          = flag.Int("txn.ops", 0, "serial operations per transaction (0: the default)")
)

// txnConfig is one run of the workload.
type txnConfig struct {
	name         string
	size         int64
	nodesize     uint32
	cacheNodes   int64 // cache budget, in nodes
	dirtyNodes   int64 // flusher threshold, in nodes
	policy       ctree.Policy
	transactions int
	ops          int // serial operations per transaction
	checkEvery   int // close, oracles, reopen and compare every this many commits
	kernelRuns   int // kernel round trips per run (when the kernel can mount)
	limits       txnLimits
	mix          *txnMix
	// drainAt: from this transaction on (0: never) the workload removes
	// far more than it adds, so deep trees shrink (node merges, root
	// shrinks).
	drainAt int
	// What a run of the default size must reach (checked at its end): the
	// deepest subvolume tree's root level, and whether metadata chunks
	// were added.
	minLevel  int
	newChunks bool
	// noTree makes the image without a free-space tree (the other
	// configs keep one through every commit).
	noTree bool
}

// txnConfigs: 16 KiB nodes on 256 MiB at a level load (policy always); 4
// KiB nodes on 128 MiB, growing so the trees get deep (level 2), then
// draining (pin-handle); and 16 KiB nodes on 128 MiB filled with large
// xattrs, so metadata chunks are added mid-transaction (pin-search). The
// tiny caches make reclaim and the flusher meet the pinned copies. The 4
// KiB run has no free-space tree, the others keep one.
func txnConfigs() []txnConfig {
	return []txnConfig{
		{name: "16K", size: 256 << 20, nodesize: 16 << 10, cacheNodes: 64, dirtyNodes: 40,
			transactions: 32, ops: 80, checkEvery: 8, kernelRuns: 2, mix: mixDefault,
			limits: txnLimits{files: 500, dirs: 40, subvols: 6, xattrBytes: 6 << 20}},
		{name: "4K", size: 128 << 20, nodesize: 4 << 10, cacheNodes: 64, dirtyNodes: 48, policy: ctree.PolicyPinHandle,
			transactions: 36, ops: 120, checkEvery: 12, kernelRuns: 2, mix: mixGrow, drainAt: 25, minLevel: 2, noTree: true,
			limits: txnLimits{files: 1500, dirs: 30, subvols: 1, xattrBytes: 3 << 20}},
		{name: "16K-fill", size: 128 << 20, nodesize: 16 << 10, cacheNodes: 96, dirtyNodes: 32, policy: ctree.PolicyPinSearch,
			transactions: 20, ops: 150, checkEvery: 10, kernelRuns: 1, mix: mixFill, newChunks: true,
			limits: txnLimits{files: 300, dirs: 20, subvols: 3, xattrBytes: 40 << 20}},
	}
}

// withFlags applies -txn.transactions and -txn.ops; a run made smaller
// than the default expects nothing of its trees and chunks.
func (c txnConfig) withFlags() txnConfig {
	d := c
	if *txnTransactionsFlag > 0 {
		c.transactions = *txnTransactionsFlag
	}
	if *txnOpsFlag > 0 {
		c.ops = *txnOpsFlag
	}
	if c.transactions < d.transactions || c.ops < d.ops {
		c.minLevel, c.newChunks = 0, false
	}
	return c
}

func TestTransactionWorkload(t *testing.T) {
	for _, cfg := range txnConfigs() {
		t.Run(cfg.name, func(t *testing.T) { runTxnWorkload(t, cfg.withFlags()) })
	}
}

func runTxnWorkload(t *testing.T, cfg txnConfig) {
	seed := *txnSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun: go test ./tests -run '^TestTransactionWorkload$/^%s$' -txn.seed=%d -v)", seed, cfg.name, seed)
	w := newTxnWorkload(t, cfg, seed)
	kernelAt := spread(cfg.transactions, cfg.kernelRuns)
	for tx := 1; tx <= cfg.transactions; tx++ {
		w.transaction(tx)
		w.commit()
		if tx%cfg.checkEvery == 0 && tx < cfg.transactions {
			w.reopenChecked()
		}
		if kernelAt[tx] {
			w.kernelRoundTrip(tx)
		}
	}
	w.reopenChecked()
	w.closeFS()
	t.Log(w.summary())
	w.checkReached()
}

// checkReached requires the run to have exercised what its config
// promises: deep trees, new chunks.
func (w *txnWorkload) checkReached() {
	deepest := 0
	for id, l := range w.totals.maxLevel {
		if format.IsSubvolumeID(id) {
			deepest = max(deepest, l)
		}
	}
	require.GreaterOrEqual(w.t, deepest, w.cfg.minLevel,
		"subvolume trees' root level (seed %d): the run did not make them as deep as its config promises", w.seed)
	if w.cfg.newChunks {
		require.NotZero(w.t, w.totals.alloc.Chunks, "no chunk added (seed %d): the fill run did not outgrow mkfs's metadata chunk", w.seed)
	}
}

// spread picks n transactions of 1..total, evenly, none the last.
func spread(total, n int) map[int]bool {
	at := map[int]bool{}
	for i := 1; i <= n; i++ {
		if tx := i * total / (n + 1); tx >= 1 {
			at[tx] = true
		}
	}
	return at
}

// txnWorkload is one run: the image, the open filesystem, the model and
// namespace, the serial worker and the figures.
type txnWorkload struct {
	t    *testing.T
	cfg  txnConfig
	seed uint64
	rng  *rand.Rand
	path string
	fs   *transaction.FS
	m    *txnModel
	ns   *txnNamespace
	main *txnWorker
	// since the last open: for checking fs.Stats()
	commits                  uint64
	handlesAtOpen, rsvAtOpen uint64
	totals                   txnTotals
}

func newTxnWorkload(t *testing.T, cfg txnConfig, seed uint64) *txnWorkload {
	w := &txnWorkload{t: t, cfg: cfg, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x7478)),
		path: filepath.Join(t.TempDir(), "txn.img"), m: newTxnModel(), ns: newTxnNamespace()}
	w.totals.maxLevel = map[uint64]int{}
	w.main = &txnWorker{m: w.m, ns: w.ns, rng: w.rng, nodesize: cfg.nodesize, limits: cfg.limits, mix: cfg.mix}
	makeTxnImage(t, w.path, cfg)
	w.openFS()
	w.loadInitial()
	return w
}

// makeTxnImage runs cowfs mkfs on a new image file.
func makeTxnImage(t *testing.T, path string, cfg txnConfig) {
	dev, err := disk.OpenFile(path, disk.FileOptions{Create: true, Size: cfg.size})
	require.NoError(t, err)
	o := mkfs.DefaultOptions()
	o.NodeSize, o.NoFreeSpaceTree = cfg.nodesize, cfg.noTree
	_, err = mkfs.Make(dev, o)
	require.NoError(t, errors.Join(err, dev.Close()))
}

// options: tiny cache, flusher on at a low threshold, no commit timer,
// strict reservations.
func (w *txnWorkload) options() transaction.Options {
	o := transaction.DefaultOptions()
	ns := int64(w.cfg.nodesize)
	o.Cache.Budget = w.cfg.cacheNodes * ns
	o.Cache.DirtyThreshold = w.cfg.dirtyNodes * ns
	o.Cache.FlushInterval = 5 * time.Millisecond
	o.CommitInterval = -1
	o.Reservations = transaction.Strict
	o.Tree.Policy = w.cfg.policy
	return o
}

// transaction runs one transaction's operations: sometimes a concurrent
// phase, then cfg.ops serial operations in handles of 1 to 4.
func (w *txnWorkload) transaction(tx int) {
	if tx == w.cfg.drainAt {
		w.main.mix = mixDrain
	}
	if w.rng.IntN(3) == 0 {
		w.concurrentPhase(tx)
	}
	for done := 0; done < w.cfg.ops; {
		n := 1 + w.rng.IntN(4)
		require.NoError(w.t, w.main.batch(n), "transaction %d (seed %d)", tx, w.seed)
		done += n
	}
	w.totals.transactions++
}

// commit commits and checks the allocator and the transaction figures.
func (w *txnWorkload) commit() {
	gen := w.fs.Super().Generation
	require.NoError(w.t, w.fs.Commit(), "commit (seed %d)", w.seed)
	require.Greater(w.t, w.fs.Super().Generation, gen, "commit left the generation (seed %d)", w.seed)
	w.commits++
	w.totals.commits++
	w.checkAfterCommit()
}

func (w *txnWorkload) checkAfterCommit() {
	t := w.t
	require.NoError(t, w.fs.Alloc().Check(), "allocator after commit %d (seed %d)", w.totals.commits, w.seed)
	s := w.fs.Stats()
	msg := fmt.Sprintf("transaction stats after commit %d (seed %d): %+v", w.totals.commits, w.seed, s)
	require.Zero(t, s.Aborts, msg)
	require.Zero(t, s.Overspends, msg)
	require.Zero(t, s.Overspent, msg)
	// Each ALLOC_CHUNK flush adds its chunk in a handle of its own.
	chunkHandles := s.Flushes[transaction.FlushAllocChunk]
	require.Equal(t, w.main.handles-w.handlesAtOpen+chunkHandles, s.Handles, msg)
	require.Equal(t, w.main.reserved-w.rsvAtOpen, s.Reserved, msg)
	require.LessOrEqual(t, s.Charged, s.Reserved, msg)
	require.LessOrEqual(t, s.MaxChargeRatio, 1.0, msg)
	require.GreaterOrEqual(t, s.Commits, w.commits, msg)
	cs := w.fs.Cache().Stats()
	require.Zero(t, cs.CheckFailures, "cache write-time checker failures (seed %d)", w.seed)
	require.Zero(t, cs.WriteErrors, "cache write errors (seed %d)", w.seed)
}
