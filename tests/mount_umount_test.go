package tests

// What `cowfs sync`, `cowfs umount` and `cowfs mount` say when something
// is wrong: an aborted filesystem (it is unmounted all the same, and the
// abort and its cause are the error), a dead daemon (how to detach), a
// missing mountpoint (one line of ours).

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUmountAborted: the image lives on a 40 MiB tmpfs that fills up
// while mounted, so the flush of a new file's data fails with the host's
// ENOSPC and aborts the transaction. `cowfs sync` then says that the
// filesystem was aborted and why; `cowfs umount` unmounts it, says the
// same and exits 1, and the daemon exits. The image holds the last
// commit: the synced file, not the lost one.
func TestUmountAborted(t *testing.T) {
	needFuse(t)
	host := smallTmpfs(t, "40M")
	bin := buildCowfs(t)
	img := checkedImage(t, bin, host)
	mnt := newMountpoint(t)
	d := startDaemon(t, bin, img, mnt, "--commit-interval", "0")
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "kept"), []byte("committed"), 0o644))
	d.syncOK()
	fillHost(t, filepath.Join(host, "ballast"))
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "lost"), make([]byte, 4<<20), 0o644))

	r := d.sync()
	require.Equal(t, 1, r.Code, "cowfs sync: %s%s\ndaemon:\n%s", r.Stdout, r.Stderr, d.stderr)
	requireOneLine(t, r.Stderr, mnt+": the filesystem was aborted (", "no space left on device", "it is read-only")
	r = cowfsUmount(t, bin, mnt)
	require.Equal(t, 1, r.Code, "cowfs umount: %s%s\ndaemon:\n%s", r.Stdout, r.Stderr, d.stderr)
	requireOneLine(t, r.Stderr, mnt+": the filesystem was aborted (", "no space left on device", "unmounted, and the image holds the last commit before the abort")
	require.False(t, isFuseMount(mnt), "an aborted mount must be unmounted")
	require.True(t, d.hasExited(), "umount returns once the daemon has exited")
	d.requireNoPanic()

	require.NoError(t, os.Remove(filepath.Join(host, "ballast")))
	d = startDaemon(t, bin, img, mnt)
	got, err := os.ReadFile(filepath.Join(mnt, "kept"))
	require.NoError(t, err)
	require.Equal(t, "committed", string(got))
	_, err = os.Stat(filepath.Join(mnt, "lost"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing after the last commit")
	d.umount()
}

// smallTmpfs mounts a tmpfs of size on a new directory (root only) and
// unmounts it at cleanup.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		oracleUnavailable(t, "not root: cannot mount a tmpfs to fill")
	}
	dir := filepath.Join(t.TempDir(), "host")
	require.NoError(t, os.Mkdir(dir, 0o755))
	r := runCmd(t, "mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir)
	require.Equal(t, 0, r.Code, "mount tmpfs: %s", r.Stderr)
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fillHost writes path until its filesystem is full.
func fillHost(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for err == nil {
		_, err = f.Write(chunk)
	}
	require.ErrorIs(t, err, syscall.ENOSPC)
}

// TestDeadDaemonMessages: after the daemon is killed, `cowfs sync`,
// `cowfs umount` and `cowfs mount` on its mountpoint each say in one line
// that the daemon is gone and how to detach the mount.
func TestDeadDaemonMessages(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	img := checkedImage(t, bin, t.TempDir())
	mnt := newMountpoint(t)
	d := startDaemon(t, bin, img, mnt)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGKILL))
	_, err := d.exitCode(mountTimeout)
	require.NoError(t, err)
	require.True(t, mountDead(mnt))
	gone := []string{mnt + ": the cowfs daemon is gone (transport endpoint is not connected)",
		"`fusermount3 -uz " + mnt + "`", "`umount -l " + mnt + "`"}
	for _, cmd := range []string{"sync", "umount"} {
		r := runCmd(t, bin, cmd, mnt)
		require.Equal(t, 1, r.Code, "cowfs %s: %s%s", cmd, r.Stdout, r.Stderr)
		requireOneLine(t, r.Stderr, gone...)
	}
	// After those, a plain stat of the mountpoint answers from the kernel's
	// cache instead of ENOTCONN; a mount over the dead one would then
	// serve in the foreground, so its wait is bounded.
	m := launchDaemon(t, bin, img, mnt)
	code, err := m.exitCode(mountTimeout)
	require.NoError(t, err, "cowfs mount on a dead daemon's mountpoint:\n%s", m.stderr)
	require.Equal(t, 1, code, "%s", m.stderr)
	requireOneLine(t, m.stderr.String(), gone...)
	require.NoError(t, detachMount(mnt))
	startDaemon(t, bin, img, mnt).umount()
}

// TestMountBadMountpoint: a missing mountpoint, or a file, is one line of
// ours and exit 1, in the foreground and with --background.
func TestMountBadMountpoint(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	mkfsImage(t, bin, img, "256M")
	missing := filepath.Join(dir, "no", "such", "dir")
	for mnt, want := range map[string]string{
		missing: "cowfs: mountpoint " + missing + " does not exist\n",
		img:     "cowfs: mountpoint " + img + " is not a directory\n",
	} {
		for _, flags := range [][]string{nil, {"--background"}} {
			args := append(append([]string{"mount"}, flags...), img, mnt)
			c := exec.Command(bin, args...)
			out, err := c.CombinedOutput()
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "cowfs %v: %v\n%s", args, err, out)
			require.Equal(t, 1, exit.ExitCode(), "cowfs %v:\n%s", args, out)
			require.Equal(t, want, string(out), "cowfs %v", args)
		}
	}
	_, err := os.Stat(missing)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing created")
}
