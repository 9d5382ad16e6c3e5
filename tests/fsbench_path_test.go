package tests

// BenchmarkFSPath: issue 13's FUSE-path table in one command — creates, a
// sequential write, a cold sequential read and fio's 4 KiB random write,
// through `cowfs mount` (its own process, as users run it) and on the
// kernel's btrfs (loop mount), both sides in every iteration, alternating
// which goes first. Figures: docs/benchmarks.md, "The FUSE path".

import (
	"encoding/json"
	"flag"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	pathFlags   = flag.String("fspath.cowfs-flags", "", "`cowfs mount` flags for BenchmarkFSPath, space-separated (e.g. \"--writeback-cache\")")
	pathFioSize = flag.String("fspath.fio-size", "256m", "file size of BenchmarkFSPath's fio random write")
)

// pathFigures are the figures of one side's run, by name.
type pathFigures map[string]float64

func (f pathFigures) String() string {
	parts := make([]string, len(pathFigureNames))
	for i, name := range pathFigureNames {
		parts[i] = fmt.Sprintf("%.1f %s", f[name], name)
	}
	return strings.Join(parts, ", ")
}

// pathFigureNames are the figures, in the order they are reported; the
// last one is a latency (smaller is better).
var pathFigureNames = []string{"files/s", "write-MiB/s", "read-MiB/s", "randwrite-IOPS", "randwrite-p99.9-us"}

func BenchmarkFSPath(b *testing.B) {
	e := newFSBench(b)
	needFuseMount(b)
	needFio(b)
	var kernel, cowfs []pathFigures
	b.StopTimer() // both sides are clocked by runPath; ns/op means nothing
	for i := range b.N {
		sides := []func(){
			func() { inScope(b, func(tb testing.TB) { kernel = append(kernel, e.kernelPathRun(tb)) }) },
			func() { inScope(b, func(tb testing.TB) { cowfs = append(cowfs, e.cowfsPathRun(tb)) }) },
		}
		sides[i%2]()
		sides[1-i%2]()
		b.Logf("iteration %d (%s first): cowfs %v; kernel %v; load average %s", i+1,
			[]string{"kernel", "cowfs"}[i%2], cowfs[i], kernel[i], loadAvg())
	}
	reportPath(b, kernel, cowfs)
}

func (e *fsbench) kernelPathRun(tb testing.TB) pathFigures {
	return runPath(tb, mountKernel(tb, e.mkfs(tb, "kernel.img", int64(fsbenchSize))))
}

func (e *fsbench) cowfsPathRun(tb testing.TB) pathFigures {
	img := e.mkfs(tb, "cowfs.img", int64(fsbenchSize))
	return runPath(tb, newDaemonDir(tb, e.bin, img, strings.Fields(*pathFlags)))
}

// runPath runs the four workloads on m and closes it.
func runPath(tb testing.TB, m mountedDir) pathFigures {
	files, dirs, size := *fsbenchFiles, *fsbenchDirs, int64(fsbenchSize)
	f := pathFigures{}
	pathMkdirs(tb, m, dirs)
	f["files/s"] = float64(files) / clock(func() { pathCreate(tb, m, files, dirs) }).Seconds()
	src := newSeqSource()
	mib := float64(size) / (1 << 20)
	f["write-MiB/s"] = mib / clock(func() { pathWrite(tb, m.Root(), src, size) }).Seconds()
	m.Remount(tb)
	f["read-MiB/s"] = mib / clock(func() { pathRead(tb, m.Root(), size) }).Seconds()
	f["randwrite-IOPS"], f["randwrite-p99.9-us"] = fioRandWrite(tb, m.Root(), *pathFioSize)
	m.Close(tb)
	return f
}

// fioRandWrite runs `fio --rw=randwrite --bs=4k --ioengine=psync
// --end_fsync=1` on a new file of size in dir and returns its write IOPS
// and 99.9th percentile completion latency in µs.
func fioRandWrite(tb testing.TB, dir, size string) (iops, p999 float64) {
	tb.Helper()
	out, err := exec.Command(needFio(tb), "--name=randwrite", "--directory="+dir, "--rw=randwrite", "--bs=4k",
		"--size="+size, "--ioengine=psync", "--end_fsync=1", "--output-format=json").Output()
	require.NoError(tb, err, "fio: %s", out)
	var r struct {
		Jobs []struct {
			Write struct {
				IOPS float64 `json:"iops"`
				Clat struct {
					Percentile map[string]float64 `json:"percentile"`
				} `json:"clat_ns"`
			} `json:"write"`
		} `json:"jobs"`
	}
	require.NoError(tb, json.Unmarshal(out, &r), "fio's JSON")
	require.Len(tb, r.Jobs, 1)
	w := r.Jobs[0].Write
	p, ok := w.Clat.Percentile["99.900000"]
	require.True(tb, ok, "fio reported no 99.9th percentile")
	return w.IOPS, p / 1000
}

// reportPath reports each figure's median for cowfs and the kernel and
// their ratio (cowfs ÷ kernel), and logs min/median/max of both sides.
func reportPath(b *testing.B, kernel, cowfs []pathFigures) {
	for _, name := range pathFigureNames {
		of := func(f pathFigures) float64 { return f[name] }
		c, k := spreadOf(cowfs, of), spreadOf(kernel, of)
		b.ReportMetric(c[1], name)
		b.ReportMetric(k[1], "kernel-"+name)
		b.ReportMetric(c[1]/k[1], name+"-ratio")
		b.Logf("%-19s cowfs %s  kernel %s  ratio of medians %.2f", name, c, k, c[1]/k[1])
	}
	b.Logf("%d files in %d dirs, %d-byte sequential file, fio %s; cowfs flags %q; load average %s",
		*fsbenchFiles, *fsbenchDirs, int64(fsbenchSize), *pathFioSize, *pathFlags, loadAvg())
}
