package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"cowfs/fuse"
)

// askDaemon issues ioctl cmd (op names it) on the root of the cowfs mount
// mnt, into buf. A dead daemon, or a directory that is no cowfs mount, gets
// an error saying so and what to do.
func askDaemon(mnt, op string, cmd uintptr, buf []byte) error {
	f, err := os.Open(mnt)
	if err == nil {
		defer f.Close()
		if err = askFD(f, cmd, buf); err != nil {
			err = fmt.Errorf("%s: %s: %w", mnt, op, err)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOTCONN), errors.Is(err, syscall.ECONNABORTED):
		return deadDaemon(mnt)
	case errors.Is(err, syscall.ENOTTY):
		return fmt.Errorf("%s is not a cowfs mount (%s: %w)", mnt, op, syscall.ENOTTY)
	}
	return err
}

// askFD issues ioctl cmd on f, or for cmd 0 syncfs(2): the kernel writes
// the mount's cached dirty pages to the daemon (--writeback-cache), which
// the daemon's commit cannot reach by itself.
func askFD(f *os.File, cmd uintptr, buf []byte) error {
	if cmd == 0 {
		return unix.Syncfs(int(f.Fd()))
	}
	if errno := ioctl(f.Fd(), cmd, buf); errno != 0 {
		return errno
	}
	return nil
}

// deadDaemon explains a mount whose daemon is gone.
func deadDaemon(mnt string) error {
	return fmt.Errorf("%s: the cowfs daemon is gone (%w): detach the mount with `fusermount3 -uz %s` (or, as root, `umount -l %s`); the image holds the daemon's last commit", mnt, syscall.ENOTCONN, mnt, mnt)
}

// daemonStatus asks the daemon of mnt for its pid and abort state.
func daemonStatus(mnt string) (fuse.Status, error) {
	buf := make([]byte, fuse.StatusSize)
	if err := askDaemon(mnt, "status", fuse.StatusIoctl, buf); err != nil {
		return fuse.Status{}, err
	}
	return fuse.DecodeStatus(buf), nil
}

// syncDaemon commits the running transaction of mnt and returns the
// daemon's pid.
func syncDaemon(mnt string) (int, error) {
	if err := askDaemon(mnt, "syncfs", 0, nil); err != nil {
		return 0, err
	}
	buf := make([]byte, 8)
	if err := askDaemon(mnt, "sync", fuse.SyncIoctl, buf); err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint64(buf)), nil
}

// abortedError reports a mount whose filesystem was aborted: read-only
// since, with the image at the last commit before the abort.
type abortedError struct {
	mnt, reason string
	unmounted   bool
}

func (e *abortedError) Error() string {
	did := "it is read-only"
	if e.unmounted {
		did = "unmounted"
	}
	return fmt.Sprintf("%s: the filesystem was aborted (%s); %s, and the image holds the last commit before the abort", e.mnt, e.reason, did)
}
