package main

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func newSyncCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sync MOUNTPOINT",
		Short: "commit the running transaction of a mounted cowfs",
		Long: `sync makes everything written to the cowfs mount on MOUNTPOINT durable: the
daemon flushes buffered file data and commits. (FUSE never forwards sync(2) to
the daemon, so this is how to force a commit besides fsync and the interval.)

An aborted filesystem (a failed commit or I/O error turned it read-only)
cannot commit: sync says so and why. A dead daemon: sync says how to detach
the mount.

Exit status: 0 committed; 1 the daemon refused (or the filesystem was
aborted), it is dead, or MOUNTPOINT is not a cowfs mount; 2 bad usage.`,
		Args: mountpointArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := syncMount(args[0])
			return err
		},
	}
}

func newUmountCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "umount MOUNTPOINT",
		Short: "commit, unmount a cowfs mount and wait for its daemon to finish",
		Long: `umount commits (as cowfs sync), unmounts MOUNTPOINT and waits until the daemon
has made its final commit and exited, so the image can be used at once.

A filesystem aborted by an error (it turned read-only) is unmounted without
a commit; umount says that it was aborted and why, and exits 1: the image
holds the last commit before the abort. A commit that fails without an
abort leaves the mount in place and says why.

A dead daemon (ENOTCONN) cannot commit: umount says so and how to detach the
mount (fusermount3 -uz MOUNTPOINT, or umount -l MOUNTPOINT as root); the
image holds the daemon's last commit.

Exit status: 0 unmounted and the daemon exited; 1 failure, an aborted
filesystem, or a dead daemon; 2 bad usage.`,
		Args: mountpointArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runUmount(args[0], timeout) },
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the daemon's final commit")
	return cmd
}

func mountpointArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("%s: expected one MOUNTPOINT argument, got %d", cmd.Name(), len(args))
	}
	return nil
}

// syncMount commits the mount's running transaction and returns the
// daemon's pid. An aborted filesystem (before, or by this commit) is an
// *abortedError, with the pid.
func syncMount(mnt string) (int, error) {
	st, err := daemonStatus(mnt)
	if err != nil {
		return 0, err
	}
	if st.Aborted != "" {
		return st.PID, &abortedError{mnt: mnt, reason: st.Aborted}
	}
	pid, err := syncDaemon(mnt)
	if err != nil {
		if st, serr := daemonStatus(mnt); serr == nil && st.Aborted != "" {
			return st.PID, &abortedError{mnt: mnt, reason: st.Aborted}
		}
	}
	return pid, err
}

// runUmount commits, unmounts and waits for the daemon to exit. An
// aborted filesystem cannot commit: it is unmounted all the same, and the
// abort is the error.
func runUmount(mnt string, timeout time.Duration) error {
	pid, err := syncMount(mnt)
	aborted, isAborted := errors.AsType[*abortedError](err)
	if err != nil && !isAborted {
		return err
	}
	if err := unmount(mnt); err != nil {
		return fmt.Errorf("umount %s: %w", mnt, err)
	}
	if err := waitExit(pid, timeout); err != nil {
		return fmt.Errorf("umount %s: %w", mnt, err)
	}
	if isAborted {
		aborted.unmounted = true
		return aborted
	}
	return nil
}

// waitExit waits until process pid has exited.
func waitExit(pid int, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return nil
		}
	}
	return fmt.Errorf("daemon %d still running after %v", pid, timeout)
}

// unmount unmounts directly as root, through fusermount3 otherwise.
func unmount(mnt string) error {
	err := syscall.Unmount(mnt, 0)
	if err != syscall.EPERM {
		return err
	}
	if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
		return fmt.Errorf("fusermount3 -u: %v: %s", err, out)
	}
	return nil
}
