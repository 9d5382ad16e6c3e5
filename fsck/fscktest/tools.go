package fscktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// skip skips t loudly, or fails it when CI is set.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but the test cannot run: "+format, args...)
	}
	t.Skipf("SKIP: "+format, args...)
}

// NeedTools skips (or, under CI, fails) t unless every tool is on PATH.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			skip(t, "%s not installed (apt-get install btrfs-progs)", tool)
		}
	}
}

// NeedMount skips (or fails) t unless loop mounts are possible: root, and
// the mount tools.
func NeedMount(t testing.TB) {
	t.Helper()
	NeedTools(t, "mkfs.btrfs", "btrfs", "mount", "umount")
	if os.Geteuid() != 0 {
		skip(t, "loop mounts need root (running as uid %d)", os.Geteuid())
	}
}

// Run runs a command and fails t with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Output runs a command and returns its stdout; stderr and the exit status
// are returned separately and do not fail t.
func Output(name string, args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(name, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

// Mkfs makes a fresh image of size bytes with mkfs.btrfs and the given
// options (e.g. "-m", "single", "-n", "4096") and returns its path.
func Mkfs(t testing.TB, size int64, opts ...string) string {
	t.Helper()
	NeedTools(t, "mkfs.btrfs")
	path := filepath.Join(t.TempDir(), "img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	Run(t, "mkfs.btrfs", append(append([]string{"-f", "-q"}, opts...), path)...)
	return path
}

// Minimal are the mkfs options of the smallest image (btrfs-format.md §1.1).
var Minimal = []string{"-m", "single", "-d", "single", "-R", "^free-space-tree"}

// Copy copies an image (keeping it sparse) and returns the copy's path.
func Copy(t testing.TB, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(path)+".copy")
	Run(t, "cp", "--sparse=always", path, dst)
	return dst
}
