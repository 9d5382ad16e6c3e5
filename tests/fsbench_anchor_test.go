package tests

// The anchor create workload of issue 13 and what one run of it measures,
// on any filesystem mounted on a directory: empty files spread over
// directories by several writers, then one commit. This file depends on
// nothing of the testing package (errors are returned), so that it can
// move into a lab package as it is; the benchmark that drives it beside
// the kernel is BenchmarkFSAnchor (fsbench_test.go), its two sides are in
// fsbench_sides_test.go.

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// createWorkload: Files empty files, file i in directory i mod Dirs,
// created by Writers writers (writer k takes files k, k+Writers, …), each
// an open(O_CREAT|O_EXCL) and a close.
type createWorkload struct{ Files, Dirs, Writers int }

// mkdirs makes the directories under root.
func (w createWorkload) mkdirs(root string) error {
	for d := range w.Dirs {
		if err := os.Mkdir(filepath.Join(root, dirName(d)), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// create creates the files under root, the writers running at once.
func (w createWorkload) create(root string) error {
	errs := make([]error, w.Writers)
	var wg sync.WaitGroup
	for k := range w.Writers {
		wg.Go(func() { errs[k] = w.createFrom(root, k) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (w createWorkload) createFrom(root string, k int) error {
	for i := k; i < w.Files; i += w.Writers {
		f, err := os.OpenFile(filepath.Join(root, dirName(i%w.Dirs), fileName(i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// anchorSide is a filesystem the anchor runs on, mounted and empty.
type anchorSide interface {
	Root() string
	// Sync commits everything so far and waits for it.
	Sync() error
	// Generation is the superblock generation on the device: commits
	// so far.
	Generation() (uint64, error)
	// Written is the bytes the filesystem has written to its device so far.
	Written() (uint64, error)
	// PeakRSS is the peak resident size of the process serving the
	// filesystem (VmHWM), 0 for the kernel.
	PeakRSS() (uint64, error)
}

// anchorRun is what one run measured.
type anchorRun struct {
	Took    time.Duration // the creates and the commit
	Commits uint64        // superblock generations the run added
	Written uint64        // bytes written to the device by the run
	PeakRSS uint64        // bytes; 0 for the kernel
}

// runAnchor makes the directories and commits (not measured), then
// creates the files and commits once, measured.
func runAnchor(s anchorSide, w createWorkload) (anchorRun, error) {
	if err := w.mkdirs(s.Root()); err != nil {
		return anchorRun{}, fmt.Errorf("mkdir: %w", err)
	}
	if err := s.Sync(); err != nil {
		return anchorRun{}, err
	}
	g0, b0, err := counters(s)
	if err != nil {
		return anchorRun{}, err
	}
	start := time.Now()
	if err := w.create(s.Root()); err != nil {
		return anchorRun{}, fmt.Errorf("create: %w", err)
	}
	if err := s.Sync(); err != nil {
		return anchorRun{}, err
	}
	took := time.Since(start)
	g1, b1, err := counters(s)
	if err != nil {
		return anchorRun{}, err
	}
	rss, err := s.PeakRSS()
	return anchorRun{Took: took, Commits: g1 - g0, Written: b1 - b0, PeakRSS: rss}, err
}

// counters reads a side's generation and bytes written.
func counters(s anchorSide) (gen, written uint64, err error) {
	if gen, err = s.Generation(); err != nil {
		return 0, 0, err
	}
	written, err = s.Written()
	return gen, written, err
}

// bytesPerFile is a run's device bytes per file created.
func (r anchorRun) bytesPerFile(w createWorkload) float64 {
	return float64(r.Written) / float64(w.Files)
}

// filesPerSec is a run's create rate, the commit included.
func (r anchorRun) filesPerSec(w createWorkload) float64 {
	return float64(w.Files) / r.Took.Seconds()
}

// format prints a run's figures on one line.
func (r anchorRun) format(w createWorkload) string {
	return fmt.Sprintf("%.0f files/s, %d commits, %.1f B/file, peak RSS %.1f MiB",
		r.filesPerSec(w), r.Commits, r.bytesPerFile(w), float64(r.PeakRSS)/(1<<20))
}
