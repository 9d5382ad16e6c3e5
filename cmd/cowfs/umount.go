package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cowfs/fuse"
)

func newSyncCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sync MOUNTPOINT",
		Short: "commit the running transaction of a mounted cowfs",
		Long: `sync makes everything written to the cowfs mount on MOUNTPOINT durable: the
daemon flushes buffered file data and commits. (FUSE never forwards sync(2) to
the daemon, so this is how to force a commit besides fsync and the interval.)

Exit status: 0 committed; 1 the daemon refused or is not a cowfs daemon; 2 bad
usage.`,
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

A dead daemon (ENOTCONN) cannot commit: detach the mount with "umount -l
MOUNTPOINT"; the image holds the daemon's last commit.

Exit status: 0 unmounted and the daemon exited; 1 failure; 2 bad usage.`,
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

// syncMount issues the sync ioctl on the mount's root; it returns the
// daemon's pid.
func syncMount(mnt string) (int, error) {
	f, err := os.Open(mnt)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var pid [8]byte
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fuse.SyncIoctl, uintptr(unsafePointer(&pid)))
	if errno != 0 {
		return 0, fmt.Errorf("%s: sync: %w (is it a cowfs mount?)", mnt, errno)
	}
	return int(binary.LittleEndian.Uint64(pid[:])), nil
}

func runUmount(mnt string, timeout time.Duration) error {
	pid, err := syncMount(mnt)
	if err != nil {
		return err
	}
	if err := unmount(mnt); err != nil {
		return fmt.Errorf("umount %s: %w", mnt, err)
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return nil
		}
	}
	return fmt.Errorf("umount %s: daemon %d still running after %v", mnt, pid, timeout)
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
