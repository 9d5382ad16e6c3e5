package tests

// cowfs mount of an image holding a kernel's fsync log: read-write it
// replays (its root lists what the kernel's replay lists, and the log is
// gone after unmount); --no-log-replay shows the last commit read-only,
// as the kernel's rescue=nologreplay does, and leaves the image as it was.

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/fsck/fscktest"
)

func TestMountLogReplay(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	img := loggedImage(t)
	nolog, kernelCopy := fscktest.Copy(t, img), fscktest.Copy(t, img)

	before := imageHash(t, nolog)
	kmnt := newMountpoint(t)
	fscktest.Run(t, "mount", "-o", "loop,ro,rescue=nologreplay", kernelCopy, kmnt)
	lastCommit := rootNames(t, kmnt)
	fscktest.Run(t, "umount", kmnt)
	mnt := newMountpoint(t)
	d := startDaemon(t, bin, nolog, mnt, "--no-log-replay")
	require.Equal(t, lastCommit, rootNames(t, mnt), "--no-log-replay against the kernel's rescue=nologreplay")
	require.ErrorIs(t, os.WriteFile(filepath.Join(mnt, "x"), nil, 0o644), syscall.EROFS)
	d.umount()
	require.Equal(t, before, imageHash(t, nolog), "--no-log-replay changed the image")

	kmnt, umount := mountImage(t, kernelCopy, false)
	replayed := rootNames(t, kmnt)
	umount()
	require.NotEqual(t, lastCommit, replayed, "the log should change the root directory")
	d = startDaemon(t, bin, img, mnt)
	require.Equal(t, replayed, rootNames(t, mnt), "cowfs mount's replay against the kernel's")
	d.umount()
	require.Zero(t, superOf(t, img).LogRoot, "the log after a replaying mount")
	fscktest.RequireClean(t, img)
}

// rootNames lists the names in dir, sorted.
func rootNames(t *testing.T, dir string) []string {
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}
