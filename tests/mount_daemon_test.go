package tests

// A `cowfs mount` daemon run as a child process of the test, as a user
// runs it: the test talks to it only through the mount (syscalls), `cowfs
// sync` and `cowfs umount`, and kills it only when a test is about the
// kill.

import (
	"bytes"
	"cowfs/testmount"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"cowfs/fsck/fscktest"
)

// fuseSuperMagic is statfs's f_type of every FUSE mount.
const fuseSuperMagic = 0x65735546

// mountTimeout bounds how long a daemon may take to mount or to exit:
// minutes, so that only a hang reaches it on a loaded machine.
const mountTimeout = 3 * time.Minute

// mountDaemon is one `cowfs mount IMAGE MOUNTPOINT` child process.
type mountDaemon struct {
	t             testing.TB
	bin, img, mnt string
	cmd           *exec.Cmd
	stderr        *lockedBuffer
	exited        chan struct{} // closed once Wait returned
	waitErr       error         // Wait's result; read after exited
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// needFuse skips (loudly), or fails under CI, unless this process can
// mount FUSE filesystems: /dev/fuse, and root or fusermount3.
func needFuse(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		oracleUnavailable(t, "FUSE unavailable (/dev/fuse missing)")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil && os.Geteuid() != 0 {
		oracleUnavailable(t, "FUSE unavailable (not root and no fusermount3)")
	}
}

// newMountpoint makes an empty directory to mount on.
func newMountpoint(t testing.TB) string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	return mnt
}

// checkedImage makes a 256 MiB image with `cowfs mkfs` in dir; our fsck
// and btrfs check must pass on it at cleanup.
func checkedImage(t *testing.T, bin, dir string) string {
	t.Helper()
	img := filepath.Join(dir, "fs.img")
	mkfsImage(t, bin, img, "256M")
	t.Cleanup(func() { fscktest.RequireClean(t, img) })
	return img
}

// startDaemon runs `cowfs mount [flags] img mnt` in the foreground of a
// child process and returns once the mount is up. At cleanup a daemon
// still running is unmounted with `cowfs umount` (and detached and killed
// only if that fails, so that a failed test does not leave a mount).
func startDaemon(t testing.TB, bin, img, mnt string, flags ...string) *mountDaemon {
	t.Helper()
	d := launchDaemon(t, bin, img, mnt, flags...)
	mounted, err := d.waitMounted()
	require.NoError(t, err)
	if !mounted {
		t.Fatalf("cowfs mount %s exited before mounting: %v\n%s", img, d.waitErr, d.stderr)
	}
	return d
}

// launchDaemon starts the child without waiting for the mount.
func launchDaemon(t testing.TB, bin, img, mnt string, flags ...string) *mountDaemon {
	t.Helper()
	args := append(append([]string{"mount"}, flags...), img, mnt)
	d := &mountDaemon{t: t, bin: bin, img: img, mnt: mnt, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.stderr, d.stderr
	require.NoError(t, d.cmd.Start())
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(d.cleanup)
	return d
}

// waitMounted waits until mnt is a FUSE mount (true) or the daemon exits
// (false).
func (d *mountDaemon) waitMounted() (bool, error) {
	for deadline := time.Now().Add(mountTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if d.hasExited() {
			return false, nil
		}
		if isFuseMount(d.mnt) {
			return true, nil
		}
	}
	return false, fmt.Errorf("cowfs mount %s: not mounted after %v\n%s", d.img, mountTimeout, d.stderr)
}

// isFuseMount reports whether mnt is a FUSE mount point, from
// /proc/self/mountinfo (statfs would ask the daemon, which may answer an
// error for a damaged image).
func isFuseMount(mnt string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options ... - fstype source
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) > 4 && sep > 0 && sep+1 < len(f) && unescapeMount(f[4]) == mnt && strings.HasPrefix(f[sep+1], "fuse") {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

func (d *mountDaemon) hasExited() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

// exitCode waits for the daemon to exit and returns its status.
func (d *mountDaemon) exitCode(timeout time.Duration) (int, error) {
	select {
	case <-d.exited:
	case <-time.After(timeout):
		return -1, fmt.Errorf("daemon %d still running after %v", d.cmd.Process.Pid, timeout)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(d.waitErr, &exit):
		return exit.ExitCode(), nil
	case d.waitErr != nil:
		return -1, d.waitErr
	}
	return 0, nil
}

// sync runs `cowfs sync MOUNTPOINT`.
func (d *mountDaemon) sync() cmdResult {
	return runCmd(d.t, d.bin, "sync", d.mnt)
}

// umount runs `cowfs umount`, and requires it and the daemon to exit 0
// and the daemon's output to hold no panic.
func (d *mountDaemon) umount() {
	d.t.Helper()
	r := cowfsUmount(d.t, d.bin, d.mnt)
	require.Equal(d.t, 0, r.Code, "cowfs umount %s: %s%s\ndaemon:\n%s", d.mnt, r.Stdout, r.Stderr, d.stderr)
	code, err := d.exitCode(mountTimeout)
	require.NoError(d.t, err)
	require.Equal(d.t, 0, code, "daemon exit status; its output:\n%s", d.stderr)
	d.requireNoPanic()
}

// cowfsUmount runs `cowfs umount MNT`, again while the mount is busy (a
// parallel test's fork holds copies of its descriptors until it execs):
// the result is the last run's, and when the mount stayed busy its stderr
// names who held it.
func cowfsUmount(t testing.TB, bin, mnt string) cmdResult {
	t.Helper()
	var r cmdResult
	err := testmount.Retry(mnt, func() error {
		if r = runCmd(t, bin, "umount", mnt); r.Code != 0 {
			return errors.New(r.Stderr)
		}
		return nil
	})
	if err != nil && testmount.IsBusy(err) {
		r.Stderr = err.Error()
	}
	return r
}

// panicText matches a Go runtime panic ("panic: ") and a handler's panic
// that the fuse package recovered ("cowfs: panic in read: ...").
var panicText = regexp.MustCompile(`panic(: | in )`)

func (d *mountDaemon) requireNoPanic() {
	d.t.Helper()
	require.False(d.t, panicText.MatchString(d.stderr.String()), "the daemon panicked:\n%s", d.stderr)
}

// kill9 sends SIGKILL to the daemon (this test's child) and reaps it.
func (d *mountDaemon) kill9() {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(syscall.SIGKILL))
	d.reapKilled()
}

// reapKilled waits for a killed daemon and detaches its dead mount as a
// user would: fusermount3 -u, else umount -l.
func (d *mountDaemon) reapKilled() {
	d.t.Helper()
	_, err := d.exitCode(mountTimeout)
	require.NoError(d.t, err)
	require.True(d.t, mountDead(d.mnt), "%s: the mount of a dead daemon should fail with ENOTCONN", d.mnt)
	require.NoError(d.t, detachMount(d.mnt))
	require.False(d.t, isFuseMount(d.mnt), "%s still mounted after detaching", d.mnt)
}

// detachMount unmounts a mount whose daemon is gone.
func detachMount(mnt string) error {
	out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput()
	if err == nil {
		return nil
	}
	if uerr := unix.Unmount(mnt, unix.MNT_DETACH); uerr != nil {
		return fmt.Errorf("fusermount3 -u %s: %v: %s; umount -l: %w", mnt, err, strings.TrimSpace(string(out)), uerr)
	}
	return nil
}

// cleanup leaves no mount and no process behind a failed test.
func (d *mountDaemon) cleanup() {
	if !d.hasExited() {
		exec.Command(d.bin, "umount", "--timeout", "30s", d.mnt).Run()
	}
	if !d.hasExited() {
		unix.Unmount(d.mnt, unix.MNT_DETACH)
		d.cmd.Process.Kill()
		<-d.exited
	}
	if isFuseMount(d.mnt) || mountDead(d.mnt) {
		detachMount(d.mnt)
	}
}

// mountDead reports a FUSE mount whose daemon is gone (ENOTCONN). The
// statx is forced to ask the daemon: attributes the kernel cached (for a
// second after a permission check refreshed them) would answer otherwise.
func mountDead(mnt string) bool {
	var st unix.Statx_t
	return unix.Statx(unix.AT_FDCWD, mnt, unix.AT_STATX_FORCE_SYNC, unix.STATX_BASIC_STATS, &st) == unix.ENOTCONN
}
