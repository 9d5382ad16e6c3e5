package tests

// One writer per image (disk/lock.go): while `cowfs mount` serves an
// image, every other read-write open of it is refused with one line naming
// the image and the daemon's pid, and leaves the image byte for byte as it
// was; the read-only tools open it beside the writer and warn. A daemon
// killed with SIGKILL leaves no lock behind. An image the kernel has
// loop-mounted is refused too.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMountLock(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	img := checkedImage(t, bin, t.TempDir())
	mnt := newMountpoint(t)
	d := startDaemon(t, bin, img, mnt, "--commit-interval", "0")
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "first"), []byte("synced by the first mount"), 0o644))
	d.syncOK()
	holder := fmt.Sprintf("%s is in use: pid %d (", img, d.cmd.Process.Pid)

	before := imageHash(t, img)
	for _, flags := range [][]string{nil, {"--read-only"}} {
		stderr := refusedMount(t, bin, img, flags...)
		requireOneLine(t, stderr, holder, "has it open read-write")
		require.Equal(t, before, imageHash(t, img), "cowfs mount %v changed the image", flags)
	}
	for _, args := range [][]string{
		{"mkfs", "--force", "--size", "256M", img},
		{"repro-seed", "--force", img},
	} {
		r := runCmd(t, bin, args...)
		require.Equal(t, 1, r.Code, "cowfs %v: %s%s", args, r.Stdout, r.Stderr)
		requireOneLine(t, r.Stderr, holder, "has it open read-write")
		require.Equal(t, before, imageHash(t, img), "cowfs %v changed the image", args)
	}
	require.True(t, isFuseMount(mnt))

	for _, cmd := range []string{"fsck", "dump-super"} {
		r := runCmd(t, bin, cmd, img)
		require.Equal(t, 0, r.Code, "cowfs %s of a synced, mounted image: %s%s", cmd, r.Stdout, r.Stderr)
		requireOneLine(t, r.Stderr, "cowfs: warning: "+holder, "what it reports is unreliable")
	}

	d.kill9()
	d = startDaemon(t, bin, img, mnt)
	got, err := os.ReadFile(filepath.Join(mnt, "first"))
	require.NoError(t, err, "the killed daemon's lock must not block the next mount")
	require.Equal(t, "synced by the first mount", string(got))
	d.umount()
	r := runCmd(t, bin, "fsck", img)
	require.Equal(t, 0, r.Code)
	require.Empty(t, r.Stderr, "no writer: no warning")
}

// TestMountLockKernel: an image the kernel has loop-mounted is refused
// for a read-write open, naming the mountpoint; fsck warns.
func TestMountLockKernel(t *testing.T) {
	needFuse(t)
	needKernelMount(t)
	bin := buildCowfs(t)
	img := checkedImage(t, bin, t.TempDir())
	kmnt, umount := mountImage(t, img, false)
	require.NoError(t, os.WriteFile(filepath.Join(kmnt, "k"), []byte("kernel"), 0o644))
	stderr := refusedMount(t, bin, img)
	requireOneLine(t, stderr, img+" is in use: the kernel has it mounted on "+kmnt+" (through /dev/loop")
	r := runCmd(t, bin, "fsck", img)
	requireOneLine(t, r.Stderr, "cowfs: warning: "+img+" is in use: the kernel has it mounted on "+kmnt)
	umount()
	d := startDaemon(t, bin, img, newMountpoint(t))
	got, err := os.ReadFile(filepath.Join(d.mnt, "k"))
	require.NoError(t, err)
	require.Equal(t, "kernel", string(got))
	d.umount()
}

// refusedMount runs `cowfs mount [flags] img` on a new mountpoint and
// requires it to exit 1 without mounting; it returns its stderr.
func refusedMount(t *testing.T, bin, img string, flags ...string) string {
	t.Helper()
	d := launchDaemon(t, bin, img, newMountpoint(t), flags...)
	mounted, err := d.waitMounted()
	require.NoError(t, err)
	require.False(t, mounted, "a second mount of %s came up:\n%s", img, d.stderr)
	code, err := d.exitCode(mountTimeout)
	require.NoError(t, err)
	require.Equal(t, 1, code, "%s", d.stderr)
	return d.stderr.String()
}

// requireOneLine requires out to be exactly one line holding every want.
func requireOneLine(t *testing.T, out string, want ...string) {
	t.Helper()
	require.Equal(t, 1, strings.Count(out, "\n"), "want one line:\n%s", out)
	require.True(t, strings.HasSuffix(out, "\n"), "want one line:\n%s", out)
	for _, w := range want {
		require.Contains(t, out, w)
	}
}
