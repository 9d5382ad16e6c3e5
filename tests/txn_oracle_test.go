package tests

// The oracles of the transaction workload on a closed image: our fsck must
// report it clean, and btrfs check (original and lowmem) must find no
// error. A missing btrfs-progs or kernel mount skips that oracle loudly
// (the workload itself goes on), and fails the test under CI.

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/fsck"
)

func (w *txnWorkload) oracles() {
	txnFsck(w.t, w.path, w.seed)
	if progsAvailable(w.t) {
		btrfsCheck(w.t, w.path)
		btrfsCheck(w.t, w.path, "--mode=lowmem")
		w.totals.btrfsChecks += 2
	}
	w.totals.fscks++
}

// txnFsck runs our fsck on the image at path and requires a clean report.
func txnFsck(t *testing.T, path string, seed uint64) {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true})
	require.NoError(t, err)
	defer dev.Close()
	rep, err := fsck.Check(dev, fsck.Options{})
	require.NoError(t, err, "fsck (seed %d)", seed)
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString(p.String() + "\n")
	}
	require.True(t, rep.Clean(), "fsck found %d problems (seed %d):\n%s", len(rep.Problems), seed, b.String())
}

// progsAvailable reports whether btrfs-progs is installed; without it the
// check is skipped loudly, or fails the test under CI.
func progsAvailable(t *testing.T) bool {
	if _, err := exec.LookPath("btrfs"); err == nil {
		return true
	}
	oracleMissing(t, "btrfs-progs not installed — btrfs check not run on the workload's images")
	return false
}

// kernelAvailable reports whether this process can loop-mount btrfs (the
// probe of needKernelMount), with the same loud skip or CI failure.
func kernelAvailable(t *testing.T) bool {
	mountProbe.Do(func() { mountUnavailable = probeMount() })
	if mountUnavailable == "" {
		return true
	}
	oracleMissing(t, mountUnavailable+" — kernel round trips of the workload not run")
	return false
}

// oracleMissing fails under CI, or says so once on stderr and goes on.
func oracleMissing(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("SKIP: %s (CI is set: the oracles must run)", msg)
	}
	loudOnce("SKIP: " + msg)
}
