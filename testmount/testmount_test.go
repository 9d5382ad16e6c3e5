package testmount

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSync(t *testing.T) {
	require.NoError(t, Sync(t.TempDir()))
	require.ErrorContains(t, Sync(filepath.Join(t.TempDir(), "missing")), "syncfs")
}

// TestRetryBusy: busy is retried until the unmount succeeds; any other
// error ends at once.
func TestRetryBusy(t *testing.T) {
	calls := 0
	err := Retry(t.TempDir(), func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("umount: %w", syscall.EBUSY)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, calls)
	calls = 0
	other := errors.New("umount: not mounted")
	require.Equal(t, other, Retry(t.TempDir(), func() error { calls++; return other }))
	require.Equal(t, 1, calls)
}

// TestRetryNamesHolder: when it gives up, the error names this process and
// the descriptor it holds under the directory.
func TestRetryNamesHolder(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "held"))
	require.NoError(t, err)
	defer f.Close()
	err = retry(dir, func() error { return syscall.EBUSY }, firstWait)
	require.ErrorIs(t, err, syscall.EBUSY)
	require.ErrorContains(t, err, fmt.Sprintf("pid %d (", os.Getpid()))
	require.ErrorContains(t, err, fmt.Sprintf("fd %d -> %s", f.Fd(), f.Name()))
}

// TestUnmountWaitsForUser: a real mount held by an open file is busy; the
// holder closes it after the first refusal and Retry then unmounts.
func TestUnmountWaitsForUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but mounting tmpfs needs root")
		}
		t.Skip("SKIP: mounting tmpfs needs root — Unmount's busy path not run")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", dir).CombinedOutput()
	require.NoError(t, err, "mount tmpfs: %s", out)
	f, err := os.Create(filepath.Join(dir, "held"))
	require.NoError(t, err)
	busy := 0
	err = Retry(dir, func() error {
		err := syscall.Unmount(dir, 0)
		if err != nil && IsBusy(err) {
			busy++
			require.Contains(t, Holders(dir), fmt.Sprintf("pid %d (%s) fd %d -> %s", os.Getpid(), comm("/proc/self"), f.Fd(), f.Name()))
			f.Close()
		}
		return err
	})
	require.NoError(t, err)
	require.Equal(t, 1, busy)
}
