package tests

// TestMountWorkload: a randomized workload through a real `cowfs mount`
// run as a separate process, every operation a syscall of this process,
// checked against an in-memory model (mount_model_test.go): each result
// and errno as it happens, the whole tree every few hundred operations,
// after an unmount and remount, and at the end through our fsck, btrfs
// check and a read-only kernel mount of the image.

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/fs"
	"cowfs/mkfs"
)

var (
	mountSeedFlag = flag.Uint64("mount.seed", 0, "seed of the TestMount* tests (0: time-based)")
	mountOpsFlag  = flag.Int("mount.ops", 0, fmt.Sprintf("operations of TestMountWorkload (0: %d)", mountDefaultOps))
)

// mountDefaultOps is the default length of TestMountWorkload: measured
// to fit about three minutes on two CPUs with -race (docs/mount.md).
const mountDefaultOps = 100_000

// mountCheckEvery is how many operations run between whole-tree
// comparisons.
const mountCheckEvery = 500

// mountSeed is -mount.seed or a time-based seed, logged for a replay.
func mountSeed(t *testing.T) uint64 {
	seed := *mountSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test -race -run '^%s$' -mount.seed=%d ./tests/)", seed, t.Name(), seed)
	return seed
}

// mountPhases are the two mounts of the workload: first without
// permission checks, then with a small cache, write-through data, a short
// commit interval and the kernel checking permissions (the default).
var mountPhases = [][]string{
	{"--commit-interval", "5s", "--no-permission-checks"},
	{"--commit-interval", "1s", "--cache-budget", "2M", "--data-buffer", "0"},
}

func TestMountWorkload(t *testing.T) {
	needFuse(t)
	needBtrfsProgs(t)
	seed := mountSeed(t)
	ops := *mountOpsFlag
	if ops <= 0 {
		ops = mountDefaultOps
	}
	bin := buildCowfs(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	nodesize := []string{"16K", "4K"}[seed%2]
	args := []string{"--nodesize", nodesize}
	if seed/2%2 == 0 { // half the seeds without a free-space tree
		args = append(args, "--no-free-space-tree")
	}
	mkfsImage(t, bin, img, "1G", args...)
	t.Logf("cowfs mkfs %v", args)
	mnt := newMountpoint(t)
	start := time.Now()
	var w *mountWorkload
	for i, flags := range mountPhases {
		if os.Geteuid() != 0 && !slices.Contains(flags, "--no-permission-checks") {
			flags = append(slices.Clone(flags), "--no-permission-checks") // unprivileged, the kernel would refuse what chmod took away
		}
		d := startDaemon(t, bin, img, mnt, flags...)
		if w == nil {
			w = newMountWorkload(t, seed, mnt, nodesize)
			t.Cleanup(w.closeFiles)
		}
		w.phase(d, ops*(i+1)/len(mountPhases))
	}
	elapsed := time.Since(start)
	cowfsFsckClean(t, bin, img)
	btrfsCheck(t, img, "--check-data-csum")
	t.Run("kernel", func(t *testing.T) { w.kernelCompare(t, img) })
	t.Logf("%d operations in %v (%.0f/s), nodesize %s, seed %d; CPU: %s; %s", w.done, elapsed.Round(time.Millisecond),
		float64(w.done)/elapsed.Seconds(), nodesize, seed, cpuTimes(), w.summary())
}

// cpuTimes is the CPU time of this process and of its children so far.
func cpuTimes() string {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	cpu := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano()).Round(time.Millisecond)
	}
	return fmt.Sprintf("test process %v, children (daemons, tools) %v", cpu(self), cpu(kids))
}

// phase runs the workload on a fresh mount up to operation until,
// comparing the tree after the mount and before the unmount.
func (w *mountWorkload) phase(d *mountDaemon, until int) {
	start := time.Now()
	w.compareTree(w.mnt)
	w.run(until - w.done)
	w.compareTree(w.mnt)
	w.closeFiles()
	requireMemoryBound(w.t, d)
	d.umount()
	w.t.Logf("mount %s: %d operations in %v", strings.Join(d.cmd.Args[2:len(d.cmd.Args)-2], " "), w.done,
		time.Since(start).Round(time.Millisecond))
}

// requireMemoryBound commits and checks the daemon's peak RSS (VmHWM)
// against the memory bound of its flags: cache budget + data buffer +
// 32 MiB. (The rusage of an exited child would not do: Linux keeps the
// forking process's peak in it.)
func requireMemoryBound(t *testing.T, d *mountDaemon) {
	t.Helper()
	require.NoError(t, syncIoctl(d.mnt))
	o := fs.DefaultOptions()
	for i, f := range d.cmd.Args[:len(d.cmd.Args)-1] {
		switch f {
		case "--cache-budget":
			o.Transaction.Cache.Budget = mustSize(t, d.cmd.Args[i+1])
		case "--data-buffer":
			o.DirtyThreshold = mustSize(t, d.cmd.Args[i+1])
		}
	}
	rss, err := procField(d.cmd.Process.Pid, "status", "VmHWM:", 1024)
	require.NoError(t, err)
	t.Logf("daemon peak RSS %d KiB, bound %d KiB", rss>>10, o.MemoryBound()>>10)
	require.LessOrEqual(t, rss, uint64(o.MemoryBound()), "the daemon's peak RSS")
}

func mustSize(t *testing.T, s string) int64 {
	n, err := mkfs.ParseSize(s)
	require.NoError(t, err)
	return n
}

// mkfsImage runs `cowfs mkfs --size SIZE [args] IMG`.
func mkfsImage(t *testing.T, bin, img, size string, args ...string) {
	t.Helper()
	r := runCmd(t, bin, append(append([]string{"mkfs", "--size", size}, args...), img)...)
	require.Equal(t, 0, r.Code, "cowfs mkfs: %s%s", r.Stdout, r.Stderr)
}

// kernelCompare mounts the image read-only with the kernel and compares
// it with the model, identities and times included.
func (w *mountWorkload) kernelCompare(t *testing.T, img string) {
	needKernelMount(t)
	mnt, umount := mountImage(t, img, true)
	defer umount()
	w.t = t
	w.compareTree(mnt)
}

// summary counts the operations by kind and the expected errors.
func (w *mountWorkload) summary() string {
	var kinds []string
	for k, n := range w.counts {
		kinds = append(kinds, fmt.Sprintf("%s=%d (%v)", k, n, w.spent[k].Round(time.Millisecond)))
	}
	kinds = append(kinds, fmt.Sprintf("(compare)=%d (%v)", w.compares, w.spent["(compare)"].Round(time.Millisecond)))
	sort.Strings(kinds)
	return fmt.Sprintf("ops: %s; expected errors: %d; tree comparisons: %d; final tree: %d inodes, %d bytes of file data",
		strings.Join(kinds, " "), w.errnos, w.compares, len(w.m.nodes)+1, w.m.bytes)
}
