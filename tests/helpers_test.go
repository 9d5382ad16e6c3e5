package tests

// Shared helpers for the oracle tests: building the cowfs binary, running
// btrfs-progs, loop-mounting images with the kernel.
//
// The oracles need btrfs-progs, root and loop devices. When one is missing
// the test is skipped with a loud message on stderr, unless the environment
// variable CI is set: then it fails, because CI must run the oracles.

import (
	"bytes"
	"cowfs/testmount"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// oracleUnavailable skips (or, under CI, fails) a test whose oracle cannot
// run here.
func oracleUnavailable(t testing.TB, reason string) {
	t.Helper()
	msg := fmt.Sprintf("SKIP: %s — oracle not run", reason)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: the oracles must run)", msg)
	}
	loudOnce(msg)
	t.Skip(msg)
}

var loud sync.Map

// loudOnce prints msg to stderr once per process, so a skip is visible
// without -v.
func loudOnce(msg string) {
	if _, seen := loud.LoadOrStore(msg, true); !seen {
		fmt.Fprintf(os.Stderr, "\n*** %s ***\n\n", msg)
	}
}

// needBtrfsProgs skips unless the btrfs tool is installed.
func needBtrfsProgs(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("btrfs"); err != nil {
		oracleUnavailable(t, "btrfs-progs not installed")
	}
}

var (
	mountProbe       sync.Once
	mountUnavailable string
)

// needKernelMount skips unless this process can loop-mount btrfs. The
// probe mounts an image made by mkfs.btrfs, so a cowfs image that fails to
// mount afterwards is a cowfs bug, never a skip.
func needKernelMount(t testing.TB) {
	t.Helper()
	mountProbe.Do(func() { mountUnavailable = probeMount() })
	if mountUnavailable != "" {
		oracleUnavailable(t, mountUnavailable)
	}
}

func probeMount() string {
	if os.Geteuid() != 0 {
		return "not root: cannot loop-mount images"
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return "no loop devices (/dev/loop-control missing)"
	}
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		return "mkfs.btrfs not installed (needed to probe the kernel)"
	}
	dir, err := os.MkdirTemp("", "cowfs-mount-probe")
	if err != nil {
		return err.Error()
	}
	defer os.RemoveAll(dir)
	img, mnt := filepath.Join(dir, "ref.img"), filepath.Join(dir, "mnt")
	steps := [][]string{
		{"truncate", "-s", "128M", img},
		{"mkfs.btrfs", "-q", "-f", "-m", "single", "-d", "single", img},
		{"mkdir", mnt},
		{"mount", "-o", "loop", img, mnt},
		{"umount", mnt},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Sprintf("kernel cannot loop-mount btrfs (%s: %v: %s)", s[0], err, strings.TrimSpace(string(out)))
		}
	}
	return ""
}

// buildCowfs builds the cowfs binary into a temporary directory of t.
func buildCowfs(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cowfs")
	out, err := exec.Command("go", "build", "-o", bin, "cowfs/cmd/cowfs").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// cmdResult is the outcome of running a command.
type cmdResult struct {
	Code           int
	Stdout, Stderr string
}

// runCmd runs name with args and returns its exit status and output; only
// a failure to start it at all fails the test.
func runCmd(t testing.TB, name string, args ...string) cmdResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	res := cmdResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", name, err)
	}
	return res
}

// btrfsCheck runs `btrfs check --force [args] img` and requires a clean
// result; it returns the output. --force skips btrfs check's scan of the
// mounted filesystems and loop devices, which races with parallel tests
// setting up and tearing down loop mounts ("could not check mount
// status"); no test checks a mounted image.
func btrfsCheck(t testing.TB, img string, args ...string) string {
	t.Helper()
	r := runCmd(t, "btrfs", append(append([]string{"check", "--force"}, args...), img)...)
	out := r.Stdout + r.Stderr
	require.Equal(t, 0, r.Code, "btrfs check %v %s:\n%s", args, img, out)
	require.Contains(t, out, "no error found", "btrfs check %v %s:\n%s", args, img, out)
	return out
}

// mountImage loop-mounts img (read-only if ro) on a fresh directory and
// returns it with an unmount function; the unmount also runs at cleanup if
// the test did not call it.
func mountImage(t testing.TB, img string, ro bool) (string, func()) {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	opts := "loop"
	if ro {
		opts += ",ro"
	}
	r := runCmd(t, "mount", "-o", opts, img, mnt)
	require.Equal(t, 0, r.Code, "mount -o %s %s: %s%s\n%s", opts, img, r.Stdout, r.Stderr, dmesgTail())
	var once sync.Once
	umount := func() {
		once.Do(func() { unmount(t, mnt) })
	}
	t.Cleanup(umount)
	return mnt, umount
}

// unmount unmounts mnt, waiting for its users: a parallel test's fork
// briefly holds copies of every open descriptor (close-on-exec ones
// included) until its exec, which can pin the mount for a moment.
func unmount(t testing.TB, mnt string) {
	t.Helper()
	require.NoError(t, testmount.Unmount(mnt))
}

// dmesgTail returns the last kernel messages, to explain a failed mount.
func dmesgTail() string {
	out, err := exec.Command("dmesg").Output()
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}
