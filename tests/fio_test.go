package tests

// The fio reference: the sequential O_DIRECT write throughput of the disk a
// benchmark runs on, measured by fio in the same run, so that a figure in
// MiB/s can be given as a share of what the hardware does.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fioBlockSize and fioQueueDepth are the reference job's I/O size and depth.
const (
	fioBlockSize  = 16 << 10
	fioQueueDepth = 32
)

// fioResult is one reference run.
type fioResult struct {
	MiBps   float64       // write bandwidth, bytes/s ÷ 2^20
	Bytes   int64         // bytes fio wrote
	Runtime time.Duration // fio's own measure of the job's run time
	Engine  string        // io_uring, or libaio when io_uring cannot run
}

func (r fioResult) String() string {
	return fmt.Sprintf("fio %s bs=16k iodepth=%d: %d bytes in %v = %.1f MiB/s",
		r.Engine, fioQueueDepth, r.Bytes, r.Runtime, r.MiBps)
}

// needFio skips (fails under CI) unless fio is installed.
func needFio(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("fio")
	if err != nil {
		oracleUnavailable(tb, "fio not installed (apt-get install fio): no reference throughput")
	}
	return path
}

// fioEngines is tried in order; the first that runs is remembered.
var (
	fioEngines    = []string{"io_uring", "libaio"}
	fioEngineMu   sync.Mutex
	fioEngineUsed string
)

// fioSeqWrite runs fio's reference job in dir — a 16 KiB sequential
// O_DIRECT write of size bytes at queue depth 32 to a new file beside
// whatever dir holds, the way fio lays it out (preallocated) — removes the
// file and returns the bandwidth. io_uring is preferred; libaio is the
// fallback where io_uring cannot run.
func fioSeqWrite(tb testing.TB, dir string, size int64) fioResult {
	tb.Helper()
	fio := needFio(tb)
	file := filepath.Join(dir, "fio-ref.dat")
	defer os.Remove(file)
	fioEngineMu.Lock()
	engines := fioEngines
	if fioEngineUsed != "" {
		engines = []string{fioEngineUsed}
	}
	fioEngineMu.Unlock()
	var errs []error
	for _, engine := range engines {
		os.Remove(file)
		r, err := runFio(fio, file, engine, size)
		if err == nil {
			fioEngineMu.Lock()
			fioEngineUsed = engine
			fioEngineMu.Unlock()
			return r
		}
		errs = append(errs, fmt.Errorf("%s: %w", engine, err))
	}
	tb.Fatalf("fio reference in %s: %v", dir, errors.Join(errs...))
	return fioResult{}
}

// fioArgs is the reference job's command line.
func fioArgs(file, engine string, size int64) []string {
	return []string{
		"--name=ref", "--filename=" + file, "--rw=write",
		"--bs=" + strconv.Itoa(fioBlockSize), "--direct=1",
		"--ioengine=" + engine, "--iodepth=" + strconv.Itoa(fioQueueDepth),
		"--size=" + strconv.FormatInt(size, 10), "--output-format=json",
	}
}

func runFio(fio, file, engine string, size int64) (fioResult, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(fio, fioArgs(file, engine, size)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fioResult{}, fmt.Errorf("%v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	r, err := parseFio(stdout.Bytes())
	if err != nil {
		return fioResult{}, err
	}
	r.Engine = engine
	if r.Bytes != size {
		return r, fmt.Errorf("fio wrote %d bytes, asked %d", r.Bytes, size)
	}
	return r, nil
}

// fioOutput is the part of fio's JSON output the reference reads.
type fioOutput struct {
	Jobs []struct {
		Error int `json:"error"`
		Write struct {
			IOBytes   int64 `json:"io_bytes"`
			BWBytes   int64 `json:"bw_bytes"`
			RuntimeMS int64 `json:"runtime"`
		} `json:"write"`
	} `json:"jobs"`
}

// parseFio reads fio's JSON output; anything fio prints before the JSON
// (warnings) is skipped.
func parseFio(out []byte) (fioResult, error) {
	i := bytes.IndexByte(out, '{')
	if i < 0 {
		return fioResult{}, fmt.Errorf("no JSON in fio output: %q", out)
	}
	var o fioOutput
	if err := json.Unmarshal(out[i:], &o); err != nil {
		return fioResult{}, fmt.Errorf("fio output: %w", err)
	}
	if len(o.Jobs) != 1 {
		return fioResult{}, fmt.Errorf("fio output has %d jobs, want 1", len(o.Jobs))
	}
	j := o.Jobs[0]
	switch {
	case j.Error != 0:
		return fioResult{}, fmt.Errorf("fio job error %d", j.Error)
	case j.Write.BWBytes <= 0 || j.Write.IOBytes <= 0:
		return fioResult{}, fmt.Errorf("fio wrote nothing (io_bytes %d, bw_bytes %d)", j.Write.IOBytes, j.Write.BWBytes)
	}
	return fioResult{
		MiBps:   float64(j.Write.BWBytes) / (1 << 20),
		Bytes:   j.Write.IOBytes,
		Runtime: time.Duration(j.Write.RuntimeMS) * time.Millisecond,
	}, nil
}

func TestParseFio(t *testing.T) {
	out := []byte(`fio: some warning
{"fio version":"fio-3.33","jobs":[{"jobname":"ref","error":0,
"write":{"io_bytes":167772160,"bw_bytes":209715200,"runtime":800}}]}`)
	r, err := parseFio(out)
	require.NoError(t, err)
	require.Equal(t, fioResult{MiBps: 200, Bytes: 167772160, Runtime: 800 * time.Millisecond}, r)

	for name, bad := range map[string]string{
		"no json":   "fio: engine not found",
		"no jobs":   `{"jobs":[]}`,
		"job error": `{"jobs":[{"error":5,"write":{"io_bytes":1,"bw_bytes":1}}]}`,
		"no writes": `{"jobs":[{"error":0,"write":{"io_bytes":0,"bw_bytes":0}}]}`,
		"truncated": `{"jobs":[{"error":0,`,
	} {
		_, err := parseFio([]byte(bad))
		require.Error(t, err, name)
	}
	require.Equal(t, []string{"--name=ref", "--filename=/d/f", "--rw=write", "--bs=16384", "--direct=1",
		"--ioengine=io_uring", "--iodepth=32", "--size=1048576", "--output-format=json"},
		fioArgs("/d/f", "io_uring", 1<<20))
}

// TestFioReference runs the reference job on 16 MiB in a temporary
// directory: fio is there, one of its engines runs, and its output parses.
func TestFioReference(t *testing.T) {
	dir := t.TempDir()
	r := fioSeqWrite(t, dir, 16<<20)
	t.Log(r)
	require.Positive(t, r.MiBps)
	_, err := os.Stat(filepath.Join(dir, "fio-ref.dat"))
	require.ErrorIs(t, err, os.ErrNotExist, "the reference file is removed")
}
