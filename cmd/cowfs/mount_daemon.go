package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// beforeMount checks what can be checked before the image is opened: the
// mountpoint, and --log. It returns where the daemon's messages go once
// it has mounted.
func beforeMount(mnt string, f mountFlags) (*daemonOutput, error) {
	if err := checkMountpoint(mnt); err != nil {
		return nil, err
	}
	return openDaemonOutput(f.log, f.readyFD > 0)
}

// checkMountpoint requires mnt to be a directory, so that a bad one fails
// with one line of ours (fusermount3 would print two of its own). The
// stat is forced through to the filesystem: a dead FUSE daemon's
// mountpoint must answer ENOTCONN, not attributes the kernel cached.
func checkMountpoint(mnt string) error {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, mnt, unix.AT_STATX_FORCE_SYNC, unix.STATX_TYPE, &st)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("mountpoint %s does not exist", mnt)
	case errors.Is(err, syscall.ENOTCONN), errors.Is(err, syscall.ECONNABORTED):
		return deadDaemon(mnt)
	case err != nil:
		return fmt.Errorf("mountpoint %s: %w", mnt, err)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("mountpoint %s is not a directory", mnt)
	}
	return nil
}

// daemonOutput is where a mounted daemon's messages go: --log FILE, or
// /dev/null for a detached (--background) daemon, which must not keep its
// caller's stdout and stderr open (`cowfs mount --background … | tail`
// would never end). nil: they stay on stderr.
type daemonOutput struct{ file *os.File }

func openDaemonOutput(log string, detached bool) (*daemonOutput, error) {
	switch {
	case log != "":
		f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--log: %w", err)
		}
		return &daemonOutput{f}, nil
	case detached:
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &daemonOutput{f}, nil
	}
	return nil, nil
}

// takeOver points stdout and stderr at the output, so that everything the
// daemon prints from now on goes there.
func (o *daemonOutput) takeOver() {
	if o == nil {
		return
	}
	defer o.file.Close()
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(int(o.file.Fd()), fd, 0); err != nil {
			fmt.Fprintf(os.Stderr, "cowfs: --log %s: %v\n", o.file.Name(), err)
		}
	}
}
