package tests

// Oracle 5(b) over random workloads: random namespace and data operations
// with fsyncs of files and directories among them, on a kernel mount with
// a long commit interval; the image copied before any commit holds the
// log. cowfs's replay of one copy must show what the kernel's replay of
// another shows, and be clean for cowfs fsck and btrfs check.

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"cowfs/fsck/fscktest"
)

var (
	logSeedFlag  = flag.Uint64("treelog.seed", 0, "seed of TestLogReplayRandom (0: time-based)")
	logRunsFlag  = flag.Int("treelog.runs", 3, "workloads of TestLogReplayRandom")
	logOnlyFlag  = flag.Int("treelog.only", -1, "run only this workload of TestLogReplayRandom (-1: all)")
	logOpsPerRun = 80
)

func TestLogReplayRandom(t *testing.T) {
	needKernelMount(t)
	needBtrfsProgs(t)
	seed := *logSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test -run '^TestLogReplayRandom$' ./tests/ -args -treelog.seed=%d [-treelog.only RUN])", seed, seed)
	for run := range max(*logRunsFlag, *logOnlyFlag+1) {
		if *logOnlyFlag >= 0 && run != *logOnlyFlag {
			continue
		}
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(run)))
			base := fscktest.Mkfs(t, 256<<20, fscktest.Minimal...)
			w := &logWorkload{t: t, rng: rng}
			fscktest.Populate(t, base, w.prepare)
			crash := fscktest.PopulateWithLog(t, base, w.fill)
			if dir := os.Getenv("COWFS_KEEP_LOG_IMAGES"); dir != "" {
				fscktest.Run(t, "cp", "--sparse=always", crash, filepath.Join(dir, fmt.Sprintf("log-%d-%d.img", seed, run)))
			}
			if superOf(t, crash).LogRoot == 0 {
				msg := fmt.Sprintf("SKIP: seed %d run %d: the kernel committed instead of logging, three times: nothing to replay", seed, run)
				loudOnce(msg)
				t.Skip(msg)
			}
			ours := fscktest.Copy(t, crash)
			replayWithCowfs(t, ours)
			fscktest.RequireClean(t, ours)
			require.Equal(t, kernelView(t, crash), kernelView(t, ours), "seed %d run %d: cowfs's replay differs from the kernel's", seed, run)
			btrfsCheck(t, crash, "--check-data-csum")
		})
	}
}

// logWorkload works on files f0..f11 and directories d0..d2 (under the
// mount and under each other), committed once by prepare.
type logWorkload struct {
	t   *testing.T
	rng *rand.Rand
	dir string
}

func (w *logWorkload) prepare(dir string) {
	w.dir = dir
	for i := range 3 {
		require.NoError(w.t, os.MkdirAll(filepath.Join(dir, fmt.Sprintf("d%d", i)), 0o755))
	}
	for range 30 {
		w.op()
	}
}

func (w *logWorkload) fill(dir string) {
	w.dir = dir
	for range logOpsPerRun {
		w.op()
	}
}

// path is a random place for a file name: the mount, one of the
// directories, or a directory e0/e1 the workload makes and removes in them.
func (w *logWorkload) path(name string) string {
	d := []string{"", "d0", "d1", "d2", "d0/e0", "d1/e1", "d2/e0"}[w.rng.IntN(7)]
	return filepath.Join(w.dir, d, name)
}

func (w *logWorkload) subdir() string { return w.path(fmt.Sprintf("e%d", w.rng.IntN(2))) }

func (w *logWorkload) file() string { return w.path(fmt.Sprintf("f%d", w.rng.IntN(12))) }

// op runs one random operation; one that fails (no such file, a name
// taken) is simply skipped, as a shell user would see an error.
func (w *logWorkload) op() {
	r := w.rng
	switch k := r.IntN(112); {
	case k >= 100:
		w.rare(k - 100)
	case k < 20:
		w.write(w.file(), os.O_CREATE|os.O_WRONLY)
	case k < 28:
		w.write(w.file(), os.O_WRONLY|os.O_APPEND)
	case k < 33:
		_ = os.Truncate(w.file(), int64(r.IntN(100000)))
	case k < 40:
		_ = os.Rename(w.file(), w.file())
	case k < 46:
		_ = os.Remove(w.file())
	case k < 52:
		_ = os.Link(w.file(), w.file())
	case k < 57:
		_ = unix.Setxattr(w.file(), fmt.Sprintf("user.x%d", r.IntN(3)), []byte(fmt.Sprint(r.IntN(1000))), 0)
	case k < 60:
		_ = unix.Removexattr(w.file(), fmt.Sprintf("user.x%d", r.IntN(3)))
	case k < 85:
		w.fsync(w.file())
	default:
		w.fsync(filepath.Dir(w.path("x")))
	}
}

// rare runs one of the operations that are rarer in the mix: directories
// made, removed and renamed, symlinks, fdatasync, fallocate (with and
// without KEEP_SIZE) and hole punching.
func (w *logWorkload) rare(k int) {
	switch k {
	case 0, 1:
		_ = os.Mkdir(w.subdir(), 0o755)
	case 2:
		_ = os.Remove(w.subdir())
	case 3:
		_ = os.Rename(w.subdir(), w.subdir())
	case 4, 5:
		_ = os.Symlink(fmt.Sprintf("target-%d", w.rng.IntN(100)), w.file())
	case 6, 7:
		if f, err := os.OpenFile(w.file(), os.O_WRONLY, 0); err == nil {
			require.NoError(w.t, unix.Fdatasync(int(f.Fd())))
			f.Close()
		}
	default:
		modes := []uint32{0, unix.FALLOC_FL_KEEP_SIZE, unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE}
		if f, err := os.OpenFile(w.file(), os.O_WRONLY, 0); err == nil {
			_ = unix.Fallocate(int(f.Fd()), modes[w.rng.IntN(3)], int64(w.rng.IntN(100000)), int64(1+w.rng.IntN(100000)))
			f.Close()
		}
	}
}

// write writes random bytes (inline-sized or several extents) at a random
// offset.
func (w *logWorkload) write(p string, flags int) {
	f, err := os.OpenFile(p, flags, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	n := []int{1 + w.rng.IntN(2000), 1 + w.rng.IntN(150000)}[w.rng.IntN(2)]
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(w.rng.Uint32())
	}
	off := int64(0)
	if flags&os.O_APPEND == 0 {
		off = int64(w.rng.IntN(60000))
	}
	if flags&os.O_APPEND != 0 {
		_, err = f.Write(b)
	} else {
		_, err = f.WriteAt(b, off)
	}
	require.NoError(w.t, err)
}

func (w *logWorkload) fsync(p string) {
	f, err := os.Open(p)
	if err != nil {
		return
	}
	defer f.Close()
	require.NoError(w.t, f.Sync())
}
