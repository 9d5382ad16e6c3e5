package fuse

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/fs"
	"cowfs/fsck/fscktest"
	"cowfs/mkfs"
)

// needFuse skips (loudly), or fails under CI, when this process cannot
// mount FUSE filesystems.
func needFuse(t *testing.T) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "not root"
	} else if _, err := os.Stat("/dev/fuse"); err != nil {
		reason = "/dev/fuse missing"
	}
	if reason == "" {
		return
	}
	msg := fmt.Sprintf("SKIP: FUSE unavailable (%s) — oracle not run", reason)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: the oracles must run)", msg)
	}
	fmt.Fprintln(os.Stderr, msg)
	t.Skip(msg)
}

// mounted makes a cowfs image, mounts it, and at cleanup unmounts,
// closes, and checks it with our fsck and btrfs check.
func mounted(t *testing.T) (mnt string, f *fs.FS) {
	t.Helper()
	needFuse(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	dev, err := disk.OpenFile(img, disk.FileOptions{Create: true, Size: 512 << 20})
	require.NoError(t, err)
	_, err = mkfs.Make(dev, mkfs.DefaultOptions())
	require.NoError(t, err)
	require.NoError(t, dev.Close())
	f, err = fs.Open(img, fs.DefaultOptions())
	require.NoError(t, err)
	mnt = filepath.Join(dir, "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	srv, err := Mount(f, mnt, Options{})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, srv.Unmount())
		srv.Wait()
		require.NoError(t, f.Close())
		checkImage(t, img)
	})
	return mnt, f
}

func checkImage(t *testing.T, img string) { fscktest.RequireClean(t, img) }

// TestPosix runs go-fuse's posixtest suite against a cowfs mount, each
// test on a fresh image.
func TestPosix(t *testing.T) {
	names := make([]string, 0, len(posixtest.All))
	for n := range posixtest.All {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			mnt, _ := mounted(t)
			posixtest.All[n](t, mnt)
		})
	}
}
