package tests

// Concurrent phases of the transaction workload: 2 to 4 goroutines, each
// with its own handles, working at once in different directories (of the
// same tree or of different subvolumes); the first may also create
// subvolumes in its directory, so that CreateTree and the root tree's
// refs race with the others' handles. Each gets its own random source
// and a reserved range of inode numbers, so a seed fixes every item even
// though the interleaving (and so the trees' shapes) varies.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/stretchr/testify/require"
)

func (w *txnWorkload) concurrentPhase(tx int) {
	dirs := w.ns.distinctDirs(w.rng, 2+w.rng.IntN(3))
	if len(dirs) < 2 {
		return
	}
	opsEach := max(4, w.cfg.ops/4)
	workers := make([]*txnWorker, len(dirs))
	for i, d := range dirs {
		workers[i] = w.main.fork(d, opsEach+4)
	}
	workers[0].subvols = true
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, cw := range workers {
		wg.Go(func() { errs[i] = cw.runOps(opsEach) })
	}
	wg.Wait()
	for _, cw := range workers {
		w.main.join(cw)
	}
	require.NoError(w.t, errors.Join(errs...), "concurrent phase of transaction %d (seed %d)", tx, w.seed)
	w.main.concurrentPhases++
}

// fork returns a worker confined to dir, with its own random source and
// inos inode numbers of dir's tree.
func (w *txnWorker) fork(dir *txnInode, inos int) *txnWorker {
	first := w.ns.reserveInos(dir.tree, inos)
	return &txnWorker{fs: w.fs, m: w.m, ns: w.ns, nodesize: w.nodesize, limits: w.limits, mix: w.mix, load: w.load, base: w.load,
		rng: rand.New(rand.NewPCG(w.rng.Uint64(), w.rng.Uint64())), scope: dir,
		inoNext: first, inoEnd: first + uint64(inos)}
}

// runOps runs at least n operations in handles of 1 to 3.
func (w *txnWorker) runOps(n int) error {
	for done := 0; done < n; {
		k := 1 + w.rng.IntN(3)
		if err := w.batch(k); err != nil {
			return fmt.Errorf("worker in %v: %w", w.scope, err)
		}
		done += k
	}
	return nil
}

// join adds a concurrent worker's results to w, the serial worker that
// forked it.
func (w *txnWorker) join(cw *txnWorker) {
	w.load.files += cw.load.files - cw.base.files
	w.load.dirs += cw.load.dirs - cw.base.dirs
	w.load.xattrBytes += cw.load.xattrBytes - cw.base.xattrBytes
	for k := range w.ops {
		w.ops[k] += cw.ops[k]
	}
	w.handles += cw.handles
	if cw.worst.ratio > w.worst.ratio {
		w.worst = cw.worst
	}
	w.packed += cw.packed
	w.unpacked += cw.unpacked
	w.reserved += cw.reserved
	for _, d := range cw.newDirs {
		w.ns.addDir(d)
	}
}
