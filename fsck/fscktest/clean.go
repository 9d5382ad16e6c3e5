package fscktest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"cowfs/disk"
	"cowfs/fsck"
)

// RequireClean fails t unless the image at path is clean for our fsck
// (data checksums included) and for btrfs check in both modes with
// --check-data-csum. Tests that write an image call it at cleanup. Without
// btrfs-progs the btrfs check part is skipped with a loud line on stderr
// (a failure when CI is set); our fsck always runs.
func RequireClean(t testing.TB, path string) {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	rep, err := fsck.Check(dev, fsck.Options{CheckDataCsum: true})
	dev.Close()
	if err != nil {
		t.Fatalf("cowfs fsck %s: %v", path, err)
	}
	if !rep.Clean() {
		t.Fatalf("cowfs fsck %s:\n%s", path, rep.Summary())
	}
	if _, err := exec.LookPath("btrfs"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("btrfs-progs not installed (CI is set: the oracles must run)")
		}
		fmt.Fprintln(os.Stderr, "SKIP: btrfs-progs not installed — btrfs check not run")
		return
	}
	for _, mode := range []string{"--mode=original", "--mode=lowmem"} {
		// --force skips btrfs check's scan of mounted filesystems, which
		// races with parallel tests' loop mounts; no image here is mounted.
		out, err := exec.Command("btrfs", "check", "--force", "--check-data-csum", mode, path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "no error found") {
			t.Fatalf("btrfs check %s %s: %v\n%s", mode, path, err, out)
		}
	}
}
