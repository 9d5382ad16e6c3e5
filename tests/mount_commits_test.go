package tests

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/fs"
)

// mountCommitsFiles is the size of TestAnchorThroughMount's workload.
const mountCommitsFiles = 20_000

// TestAnchorThroughMount is BenchmarkFSAnchor's workload, smaller, as a
// test of counts (docs/transaction.md, "Flushing for space"): 20,000
// empty files in 100 directories by two writers through `cowfs mount`,
// then one sync. cowfs commits once, the sync's, and not more often than
// the kernel on the same workload measured here (mkfs.btrfs -n 16384 -m single, loop device with
// direct I/O, commit=300); it writes at most 1.05× the kernel's bytes per
// file; the daemon's peak RSS stays within its memory bound (cache budget
// + data buffer + 32 MiB).
func TestAnchorThroughMount(t *testing.T) {
	needFuse(t)
	needKernelMount(t)
	needBtrfsProgs(t)
	bin := buildCowfs(t)
	w := createWorkload{Files: mountCommitsFiles, Dirs: 100, Writers: 2}
	kernel, err := runAnchor(newKernelAnchor(t, t.TempDir(), anchorImageSize), w)
	require.NoError(t, err, "kernel")
	c := newCowfsAnchor(t, bin, t.TempDir(), anchorImageSize)
	cowfs, err := runAnchor(c, w)
	require.NoError(t, err, "cowfs")
	c.close(t)
	t.Logf("kernel: %d commits, %.1f B/file; cowfs: %d commits, %.1f B/file, peak RSS %d MiB",
		kernel.Commits, kernel.bytesPerFile(w), cowfs.Commits, cowfs.bytesPerFile(w), cowfs.PeakRSS>>20)
	require.Equal(t, uint64(1), cowfs.Commits, "cowfs's commits: the sync's")
	require.LessOrEqual(t, cowfs.Commits, kernel.Commits, "cowfs's commits vs the kernel's")
	require.LessOrEqual(t, cowfs.bytesPerFile(w), 1.05*kernel.bytesPerFile(w), "bytes per file, cowfs vs 1.05 × the kernel")
	require.LessOrEqual(t, cowfs.PeakRSS, uint64(fs.DefaultOptions().MemoryBound()), "the daemon's peak RSS")
}
