package tests

// Filesystem throughput beside the kernel's btrfs: files created per
// second, and MiB/s of a sequential write and read of one large file, each
// measured on cowfs (through FUSE, sub-benchmark "fuse", or through the fs
// API, "api") and, in the same iteration, on the kernel's btrfs with a
// loop-mounted image made by `cowfs mkfs` of the same size in the same
// directory. Figures, commands and the analysis: docs/benchmarks.md,
// "Filesystem throughput vs the kernel's btrfs".
//
// Every iteration is self-contained: the kernel's run first (new image,
// mount, setup, timed work, unmount, image removed), then cowfs's (new
// image, open, setup, timed work, close, cowfs fsck and btrfs check). Only
// cowfs's work runs under the benchmark timer, so ns/op is cowfs's time;
// the kernel's is measured with the clock around the same work.

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/fs"
	"cowfs/mkfs"
)

// sizeFlag is a byte count with an optional K, M, G or T suffix
// (mkfs.ParseSize).
type sizeFlag int64

func (s *sizeFlag) String() string { return fmt.Sprint(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := mkfs.ParseSize(v)
	if err != nil {
		return err
	}
	if n == 0 || n%fsbenchIO != 0 {
		return fmt.Errorf("%d bytes: want a positive multiple of %d", n, fsbenchIO)
	}
	*s = sizeFlag(n)
	return nil
}

var (
	fsbenchSize  = sizeFlag(1 << 30)
	fsbenchFiles = flag.Int("fsbench.files", 10_000, "empty files BenchmarkFSCreate creates")
	fsbenchDirs  = flag.Int("fsbench.dirs", 100, "directories BenchmarkFSCreate spreads its files over")
	fsbenchDir   = flag.String("fsbench.dir", "",
		"directory on the disk for the images (default: the benchmark's TempDir, under $TMPDIR)")
)

func init() {
	flag.Var(&fsbenchSize, "fsbench.size",
		"bytes of the file BenchmarkFSSeqWrite and BenchmarkFSSeqRead write and read (K, M, G suffixes; a multiple of 1M)")
}

const (
	fsbenchIO   = 1 << 20 // bytes per write(2) and read(2)
	fsbenchFile = "seq.dat"
)

// fsbenchImageSize is the size of every image: 1 GiB plus twice the data.
func fsbenchImageSize(data int64) int64 { return 1<<30 + 2*data }

// fsbenchOptions are cowfs's options on both of its sides.
func fsbenchOptions() fs.Options { return fs.DefaultOptions() }

// cowfsSide is how a sub-benchmark reaches cowfs: through a FUSE mount or
// by calling the fs API.
type cowfsSide string

const (
	sideFuse cowfsSide = "fuse"
	sideAPI  cowfsSide = "api"
)

var cowfsSides = []cowfsSide{sideFuse, sideAPI}

// fsbench is one benchmark's environment.
type fsbench struct {
	bin, dir string
}

func newFSBench(b *testing.B) *fsbench {
	b.Helper()
	needKernelMount(b)
	bin := buildCowfs(b)
	return &fsbench{bin: bin, dir: fsbenchDirFor(b)}
}

func fsbenchDirFor(b *testing.B) string {
	if *fsbenchDir == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(*fsbenchDir, "cowfs-fsbench")
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// mkfs makes a fresh image for one side of one iteration.
func (e *fsbench) mkfs(tb testing.TB, name string, data int64) string {
	return fsbenchMkfs(tb, e.bin, e.dir, name, fsbenchImageSize(data))
}

// inScope runs one side of an iteration in a scope of its own, so that the
// image, mounts and temporary directories of the side are gone before the
// next one starts.
func inScope(b *testing.B, fn func(tb testing.TB)) {
	b.Helper()
	s := &scope{TB: b}
	defer s.done()
	fn(s)
}

// scope is a testing.TB whose Cleanup functions run when the scope ends,
// not at the end of the benchmark.
type scope struct {
	testing.TB
	cleanups []func()
}

func (s *scope) Cleanup(fn func()) { s.cleanups = append(s.cleanups, fn) }

func (s *scope) TempDir() string {
	dir, err := os.MkdirTemp(s.TB.TempDir(), "scope")
	require.NoError(s, err)
	s.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (s *scope) done() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
}

// ---- BenchmarkFSCreate ----

// BenchmarkFSCreate creates -fsbench.files empty files, file i in
// directory i mod -fsbench.dirs (made and committed before the timer
// starts), then commits: syncfs(2) on the kernel's btrfs, the sync ioctl
// through FUSE, fs.Sync through the API. Metrics: files/s of cowfs, of the
// kernel, and their ratio.
func BenchmarkFSCreate(b *testing.B) {
	e := newFSBench(b)
	for _, side := range cowfsSides {
		b.Run(string(side), func(b *testing.B) { e.benchCreate(b, side) })
	}
}

func (e *fsbench) benchCreate(b *testing.B, side cowfsSide) {
	if side == sideFuse {
		needFuseMount(b)
	}
	files, dirs := *fsbenchFiles, *fsbenchDirs
	require.Positive(b, files)
	require.Positive(b, dirs)
	t := &cowfsTimer{b: b}
	var kernelTook time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		inScope(b, func(tb testing.TB) {
			k := mountKernel(tb, e.mkfs(tb, "kernel.img", 0))
			pathMkdirs(tb, k, dirs)
			kernelTook += clock(func() { pathCreate(tb, k, files, dirs) })
			pathCheckCreated(tb, k, files, dirs)
			k.Close(tb)
		})
		inScope(b, func(tb testing.TB) {
			img := e.mkfs(tb, "cowfs.img", 0)
			if side == sideFuse {
				d := mountFuse(tb, img, fsbenchOptions())
				pathMkdirs(tb, d, dirs)
				t.time(func() *fs.FS { return d.f }, func() { pathCreate(tb, d, files, dirs) })
				pathCheckCreated(tb, d, files, dirs)
				d.Close(tb)
				return
			}
			a := openAPI(tb, img, fsbenchOptions())
			inos := apiMkdirs(tb, a, dirs)
			t.time(func() *fs.FS { return a.f }, func() { apiCreate(tb, a, inos, files) })
			apiCheckCreated(tb, a, inos, files)
			a.Close(tb)
		})
	}
	n := float64(files) * float64(b.N)
	reportVsKernel(b, "files/s", n/t.took.Seconds(), n/kernelTook.Seconds())
	t.reportCommits()
	b.Logf("%s: %d files in %d directories, image %d bytes in %s, cowfs options %s",
		side, files, dirs, fsbenchImageSize(0), e.dir, fsbenchOptions())
}

// reportVsKernel gives cowfs's figure, the kernel's and their ratio.
func reportVsKernel(b *testing.B, unit string, cowfs, kernel float64) {
	b.ReportMetric(cowfs, unit)
	b.ReportMetric(kernel, "kernel-"+unit)
	b.ReportMetric(cowfs/kernel, "ratio")
	b.Logf("%s %.1f %s, kernel %.1f %s, ratio %.3f", b.Name(), cowfs, unit, kernel, unit, cowfs/kernel)
}

// clock returns how long fn takes.
func clock(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

// cowfsTimer times cowfs's part of each iteration, under the benchmark
// timer, and counts the commits cowfs made in it.
type cowfsTimer struct {
	b       *testing.B
	took    time.Duration
	commits uint64
}

// time runs fn timed; f returns the filesystem fn works on.
func (t *cowfsTimer) time(f func() *fs.FS, fn func()) {
	c0 := f().Transaction().Stats().Commits
	t.b.StartTimer()
	t.took += clock(fn)
	t.b.StopTimer()
	t.commits += f().Transaction().Stats().Commits - c0
}

// reportCommits gives the commits per iteration of the timed part
// (forced ones included: reservations that could not be met, fsync, sync).
func (t *cowfsTimer) reportCommits() {
	t.b.ReportMetric(float64(t.commits)/float64(t.b.N), "commits/op")
}

func dirName(i int) string             { return fmt.Sprintf("d%03d", i) }
func fileName(i int) string            { return fmt.Sprintf("f%06d", i) }
func createdIn(files, dirs, d int) int { return (files - d + dirs - 1) / dirs }

func pathMkdirs(tb testing.TB, m mountedDir, dirs int) {
	tb.Helper()
	for d := range dirs {
		require.NoError(tb, os.Mkdir(filepath.Join(m.Root(), dirName(d)), 0o755))
	}
	m.Sync(tb)
}

// pathCreate is creat(2) and close(2) of every file, then the commit.
func pathCreate(tb testing.TB, m mountedDir, files, dirs int) {
	tb.Helper()
	root := m.Root()
	for i := range files {
		f, err := os.OpenFile(filepath.Join(root, dirName(i%dirs), fileName(i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		require.NoError(tb, err)
		require.NoError(tb, f.Close())
	}
	m.Sync(tb)
}

func pathCheckCreated(tb testing.TB, m mountedDir, files, dirs int) {
	tb.Helper()
	for _, d := range []int{0, dirs - 1} {
		ents, err := os.ReadDir(filepath.Join(m.Root(), dirName(d)))
		require.NoError(tb, err)
		require.Len(tb, ents, createdIn(files, dirs, d), "entries of %s", dirName(d))
	}
	st, err := os.Stat(filepath.Join(m.Root(), dirName((files-1)%dirs), fileName(files-1)))
	require.NoError(tb, err)
	require.True(tb, st.Mode().IsRegular())
	require.Zero(tb, st.Size())
}

func apiMkdirs(tb testing.TB, a *apiFS, dirs int) []uint64 {
	tb.Helper()
	inos := make([]uint64, dirs)
	for d := range dirs {
		at, err := a.f.Mkdir(a.f.Root(), dirName(d), 0o755, fs.Creator{})
		require.NoError(tb, err)
		inos[d] = at.Ino
	}
	require.NoError(tb, a.f.Sync())
	return inos
}

// apiCreate is fs.Create of every file (FUSE's CREATE also opens the
// file, and its RELEASE closes it; the API needs neither), then fs.Sync.
func apiCreate(tb testing.TB, a *apiFS, dirs []uint64, files int) {
	tb.Helper()
	for i := range files {
		_, err := a.f.Create(dirs[i%len(dirs)], fileName(i), 0o644, fs.Creator{})
		require.NoError(tb, err)
	}
	require.NoError(tb, a.f.Sync())
}

func apiCheckCreated(tb testing.TB, a *apiFS, dirs []uint64, files int) {
	tb.Helper()
	for _, d := range []int{0, len(dirs) - 1} {
		n := 0
		require.NoError(tb, a.f.ReadDir(dirs[d], 0, func(fs.DirEntry) bool { n++; return true }))
		require.Equal(tb, createdIn(files, len(dirs), d), n, "entries of %s", dirName(d))
	}
	at, err := a.f.Lookup(dirs[(files-1)%len(dirs)], fileName(files-1))
	require.NoError(tb, err)
	require.Zero(tb, at.Size)
}

// ---- BenchmarkFSSeqWrite, BenchmarkFSSeqRead ----

// BenchmarkFSSeqWrite creates one file and writes -fsbench.size bytes into
// it sequentially, 1 MiB per write, then fsyncs it, all timed. Metrics:
// MiB/s of cowfs, of the kernel, and their ratio.
func BenchmarkFSSeqWrite(b *testing.B) {
	e := newFSBench(b)
	for _, side := range cowfsSides {
		b.Run(string(side), func(b *testing.B) { e.benchSeq(b, side, false) })
	}
}

// BenchmarkFSSeqRead writes -fsbench.size bytes as BenchmarkFSSeqWrite
// does (untimed), unmounts (closes), drops the kernel's page cache,
// mounts (opens) again, and then reads the file sequentially, 1 MiB per
// read, timed, checking a stamp at the start of every MiB.
func BenchmarkFSSeqRead(b *testing.B) {
	e := newFSBench(b)
	for _, side := range cowfsSides {
		b.Run(string(side), func(b *testing.B) { e.benchSeq(b, side, true) })
	}
}

func (e *fsbench) benchSeq(b *testing.B, side cowfsSide, read bool) {
	if side == sideFuse {
		needFuseMount(b)
	}
	size := int64(fsbenchSize)
	src := newSeqSource()
	t := &cowfsTimer{b: b}
	var kernelTook time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		inScope(b, func(tb testing.TB) {
			k := mountKernel(tb, e.mkfs(tb, "kernel.img", size))
			seqOps{
				write:   func() { pathWrite(tb, k.Root(), src, size) },
				remount: func() { k.Remount(tb) },
				read:    func() { pathRead(tb, k.Root(), size) },
			}.run(read, func(fn func()) { kernelTook += clock(fn) })
			k.Close(tb)
		})
		inScope(b, func(tb testing.TB) {
			img := e.mkfs(tb, "cowfs.img", size)
			if side == sideFuse {
				d := mountFuse(tb, img, fsbenchOptions())
				seqOps{
					write:   func() { pathWrite(tb, d.Root(), src, size) },
					remount: func() { d.Remount(tb) },
					read:    func() { pathRead(tb, d.Root(), size) },
				}.run(read, func(fn func()) { t.time(func() *fs.FS { return d.f }, fn) })
				d.Close(tb)
				return
			}
			a := openAPI(tb, img, fsbenchOptions())
			seqOps{
				write:   func() { apiWrite(tb, a, src, size) },
				remount: func() { a.Remount(tb) },
				read:    func() { apiRead(tb, a, size) },
			}.run(read, func(fn func()) { t.time(func() *fs.FS { return a.f }, fn) })
			a.Close(tb)
		})
	}
	mib := float64(size) * float64(b.N) / (1 << 20)
	reportVsKernel(b, "MiB/s", mib/t.took.Seconds(), mib/kernelTook.Seconds())
	t.reportCommits()
	b.Logf("%s: %d bytes in %d-byte I/Os, image %d bytes in %s, cowfs options %s",
		side, size, fsbenchIO, fsbenchImageSize(size), e.dir, fsbenchOptions())
}

// seqOps are the steps of a sequential workload on one filesystem.
type seqOps struct{ write, remount, read func() }

// run writes, remounts and reads, passing the measured part to timed: the
// write (then the read checks it, untimed), or the read.
func (o seqOps) run(read bool, timed func(func())) {
	if read {
		o.write()
		o.remount()
		timed(o.read)
		return
	}
	timed(o.write)
	o.remount()
	o.read()
}

// seqSource is the data written: 1 MiB of random bytes (so that nothing
// could compress or deduplicate it), stamped at its start with the index
// of each MiB.
type seqSource struct{ buf []byte }

func newSeqSource() *seqSource {
	r := rand.NewChaCha8([32]byte{'c', 'o', 'w', 'f', 's'})
	buf := make([]byte, fsbenchIO)
	_, _ = r.Read(buf)
	return &seqSource{buf: buf}
}

// chunk returns the bytes of MiB i (valid until the next call).
func (s *seqSource) chunk(i int64) []byte {
	binary.LittleEndian.PutUint64(s.buf, uint64(i))
	binary.LittleEndian.PutUint64(s.buf[8:], ^uint64(i))
	return s.buf
}

// checkChunk checks the stamp of MiB i.
func checkChunk(tb testing.TB, p []byte, i int64) {
	if binary.LittleEndian.Uint64(p) != uint64(i) || binary.LittleEndian.Uint64(p[8:]) != ^uint64(i) {
		tb.Fatalf("MiB %d of %s: stamp %x, want %d", i, fsbenchFile, p[:16], i)
	}
}

// pathWrite is creat(2), write(2) of every MiB, fsync(2), close(2).
func pathWrite(tb testing.TB, root string, src *seqSource, size int64) {
	tb.Helper()
	f, err := os.OpenFile(filepath.Join(root, fsbenchFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	require.NoError(tb, err)
	for i := range size / fsbenchIO {
		_, err := f.Write(src.chunk(i))
		require.NoError(tb, err, "write MiB %d", i)
	}
	require.NoError(tb, f.Sync())
	require.NoError(tb, f.Close())
}

// pathRead is open(2), read(2) of every MiB until EOF, close(2).
func pathRead(tb testing.TB, root string, size int64) {
	tb.Helper()
	f, err := os.Open(filepath.Join(root, fsbenchFile))
	require.NoError(tb, err)
	defer f.Close()
	buf := make([]byte, fsbenchIO)
	var i int64
	for ; ; i++ {
		_, err := io.ReadFull(f, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(tb, err, "read MiB %d", i)
		checkChunk(tb, buf, i)
	}
	require.Equal(tb, size/fsbenchIO, i, "MiB read")
}

// apiWrite is fs.Create, OpenFile, Write of every MiB, Fsync and
// ReleaseFile: what FUSE's CREATE, WRITEs, FSYNC and RELEASE call.
func apiWrite(tb testing.TB, a *apiFS, src *seqSource, size int64) {
	tb.Helper()
	at, err := a.f.Create(a.f.Root(), fsbenchFile, 0o644, fs.Creator{})
	require.NoError(tb, err)
	require.NoError(tb, a.f.OpenFile(at.Ino))
	for i := range size / fsbenchIO {
		n, err := a.f.Write(at.Ino, src.chunk(i), uint64(i*fsbenchIO))
		require.NoError(tb, err, "write MiB %d", i)
		require.Equal(tb, fsbenchIO, n)
	}
	require.NoError(tb, a.f.Fsync(at.Ino))
	require.NoError(tb, a.f.ReleaseFile(at.Ino))
}

// apiRead is Lookup, OpenFile, Read of every MiB until a short read, and
// ReleaseFile.
func apiRead(tb testing.TB, a *apiFS, size int64) {
	tb.Helper()
	at, err := a.f.Lookup(a.f.Root(), fsbenchFile)
	require.NoError(tb, err)
	require.NoError(tb, a.f.OpenFile(at.Ino))
	buf := make([]byte, fsbenchIO)
	var i int64
	for ; ; i++ {
		n, err := a.f.Read(at.Ino, buf, uint64(i*fsbenchIO))
		require.NoError(tb, err, "read MiB %d", i)
		if n == 0 {
			break
		}
		require.Equal(tb, fsbenchIO, n, "read MiB %d", i)
		checkChunk(tb, buf, i)
	}
	require.Equal(tb, size/fsbenchIO, i, "MiB read")
	require.NoError(tb, a.f.ReleaseFile(at.Ino))
}

// ---- BenchmarkFSAnchor ----

var (
	anchorFiles   = flag.Int("anchor.files", 200_000, "empty files BenchmarkFSAnchor creates")
	anchorWriters = flag.Int("anchor.writers", 2, "writers of BenchmarkFSAnchor, creating at once")
	anchorFlags   = flag.String("anchor.cowfs-flags", "", "more `cowfs mount` flags for BenchmarkFSAnchor, space-separated (e.g. \"--dirty-threshold 32M\")")
)

// anchorImageSize is the size of both sides' images, as issue 13 measured.
const anchorImageSize = 8 << 30

func anchorWorkload() createWorkload {
	return createWorkload{Files: *anchorFiles, Dirs: *fsbenchDirs, Writers: *anchorWriters}
}

// BenchmarkFSAnchor is issue 13's anchor beside the kernel: -anchor.files
// empty files in -fsbench.dirs directories by -anchor.writers writers, then
// one sync, on the kernel's btrfs (mkfs.btrfs -n 16384 -m single, a loop
// device with direct I/O, commit=300) and on `cowfs mount` run as its own
// process (cowfs mkfs --size 8G, --commit-interval 300s). Each iteration
// runs both sides from fresh images, alternating which goes first. It
// reports the medians over the iterations; the log has min/median/max of
// every figure. Run it with -benchtime Nx (N iterations).
func BenchmarkFSAnchor(b *testing.B) {
	e := newFSBench(b)
	needFuseMount(b)
	w := anchorWorkload()
	var kernel, cowfs []anchorRun
	b.StopTimer() // both sides are timed by runAnchor, ns/op means nothing
	for i := range b.N {
		sides := []func(){
			func() { inScope(b, func(tb testing.TB) { kernel = append(kernel, e.kernelAnchorRun(tb, w)) }) },
			func() { inScope(b, func(tb testing.TB) { cowfs = append(cowfs, e.cowfsAnchorRun(tb, w)) }) },
		}
		sides[i%2]()
		sides[1-i%2]()
		b.Logf("iteration %d (%s first): cowfs %s; kernel %s; load average %s", i+1,
			[]string{"kernel", "cowfs"}[i%2], cowfs[i].format(w), kernel[i].format(w), loadAvg())
	}
	reportAnchor(b, w, kernel, cowfs)
}

func (e *fsbench) kernelAnchorRun(tb testing.TB, w createWorkload) anchorRun {
	r, err := runAnchor(newKernelAnchor(tb, e.dir, anchorImageSize), w)
	require.NoError(tb, err, "kernel")
	return r
}

func (e *fsbench) cowfsAnchorRun(tb testing.TB, w createWorkload) anchorRun {
	c := newCowfsAnchor(tb, e.bin, e.dir, anchorImageSize, strings.Fields(*anchorFlags)...)
	r, err := runAnchor(c, w)
	require.NoError(tb, err, "cowfs")
	c.close(tb)
	return r
}

// anchorFigure is one row of the anchor's table: how to read it off a run.
type anchorFigure struct {
	unit string
	of   func(anchorRun) float64
}

func anchorFigures(w createWorkload) []anchorFigure {
	return []anchorFigure{
		{"files/s", func(r anchorRun) float64 { return r.filesPerSec(w) }},
		{"commits", func(r anchorRun) float64 { return float64(r.Commits) }},
		{"meta-B/file", func(r anchorRun) float64 { return r.bytesPerFile(w) }},
		{"peak-RSS-MiB", func(r anchorRun) float64 { return float64(r.PeakRSS) / (1 << 20) }},
	}
}

// reportAnchor reports each figure's median for cowfs and the kernel and
// their ratio, and logs min/median/max of both sides and the load.
func reportAnchor(b *testing.B, w createWorkload, kernel, cowfs []anchorRun) {
	for _, f := range anchorFigures(w) {
		c, k := spreadOf(cowfs, f.of), spreadOf(kernel, f.of)
		b.ReportMetric(c[1], f.unit)
		b.Logf("%-13s cowfs %s  kernel %s", f.unit, c, k)
		if f.unit == "peak-RSS-MiB" {
			continue
		}
		b.ReportMetric(k[1], "kernel-"+f.unit)
		if k[1] != 0 {
			b.ReportMetric(c[1]/k[1], f.unit+"-ratio")
		}
	}
	bound := fs.DefaultOptions().MemoryBound()
	b.ReportMetric(float64(bound)/(1<<20), "RSS-bound-MiB")
	b.Logf("%d files, %d dirs, %d writers, %d iterations alternated, cowfs flags %q; load average %s",
		w.Files, w.Dirs, w.Writers, len(cowfs), *anchorFlags, loadAvg())
}

// minMedMax is min, median and max.
type minMedMax [3]float64

func (m minMedMax) String() string { return fmt.Sprintf("%.1f (%.1f–%.1f)", m[1], m[0], m[2]) }

// spreadOf is min, median and max of a figure over runs.
func spreadOf[R any](runs []R, of func(R) float64) minMedMax {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = of(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return minMedMax{}
	}
	return minMedMax{v[0], v[len(v)/2], v[len(v)-1]}
}

// loadAvg is /proc/loadavg's three load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
