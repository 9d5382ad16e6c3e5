package tests

// `cowfs mount --background`: the caller returns once the mount is up,
// and the detached daemon holds neither the caller's stdout nor its
// stderr, so `cowfs mount --background IMG MNT | tail -1` ends. Its
// messages from then on go to --log FILE, or nowhere.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestMountBackground(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	dir := t.TempDir()
	img := checkedImage(t, bin, dir)
	for _, log := range []string{filepath.Join(dir, "daemon.log"), ""} {
		mnt := newMountpoint(t)
		t.Cleanup(func() { detachBackground(bin, mnt) })
		flags := "--background"
		if log != "" {
			flags += " --log " + log
		}
		// A pipeline that ends only when every writer of the pipe is gone.
		ctx, cancel := context.WithTimeout(context.Background(), mountTimeout)
		defer cancel()
		sh := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("%s mount %s %s %s | tail -1", bin, flags, img, mnt))
		sh.WaitDelay = 5 * time.Second // tail and the daemon may hold the output open after sh is killed
		out, err := sh.CombinedOutput()
		require.NoError(t, ctx.Err(), "`cowfs mount %s | tail -1` did not return: the daemon keeps the pipe open\n%s", flags, out)
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "mounted on "+mnt, "the message before detaching reaches the caller")
		require.True(t, isFuseMount(mnt))

		pid := daemonPID(t, mnt)
		out1 := log
		if log == "" {
			out1 = os.DevNull
		}
		for fd, want := range []string{os.DevNull, out1, out1} {
			target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
			require.NoError(t, err)
			require.Equal(t, want, target, "the daemon's fd %d", fd)
		}
		require.NoError(t, os.WriteFile(filepath.Join(mnt, "f"), []byte(log), 0o644))
		r := cowfsUmount(t, bin, mnt)
		require.Equal(t, 0, r.Code, "%s", r.Stderr)
		if log != "" {
			b, err := os.ReadFile(log)
			require.NoError(t, err)
			require.Contains(t, string(b), "cowfs: "+img+" unmounted, committed", "the daemon's last message")
			require.NotContains(t, string(b), "mounted on", "before detaching, the daemon wrote to the caller")
		}
	}
}

// daemonPID finds the background daemon serving mnt (its command line
// ends with "MNT --ready-fd=3").
func daemonPID(t *testing.T, mnt string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 2 && slices.Contains(args, "mount") && args[len(args)-2] == mnt && args[len(args)-1] == "--ready-fd=3" {
			return pid
		}
	}
	t.Fatalf("no daemon serving %s", mnt)
	return 0
}

// detachBackground unmounts mnt if a failed test left it mounted.
func detachBackground(bin, mnt string) {
	if isFuseMount(mnt) {
		if exec.Command(bin, "umount", "--timeout", "30s", mnt).Run() != nil {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	}
}
