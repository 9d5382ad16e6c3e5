package testmount

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Back-off of Retry: the first wait, the longest, and the sum of waits after
// which it gives up. The sum is generous (a loaded machine can keep a fork's
// copy of a descriptor alive for seconds); only a real leak reaches it.
const (
	firstWait = 10 * time.Millisecond
	maxWait   = time.Second
	totalWait = 2 * time.Minute
)

// Unmount unmounts dir with umount(8) (which also frees a loop device),
// retrying while it is busy (see Retry).
func Unmount(dir string) error {
	return Retry(dir, func() error {
		out, err := exec.Command("umount", dir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("umount %s: %w: %s", dir, err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// Retry calls unmount until it succeeds or fails with something other than
// "busy". A busy mount is waited for with a doubling back-off, up to
// totalWait in all; then the error names who holds dir (Holders).
func Retry(dir string, unmount func() error) error {
	return retry(dir, unmount, totalWait)
}

// retry is Retry giving up after total.
func retry(dir string, unmount func() error, total time.Duration) error {
	wait, waited := firstWait, time.Duration(0)
	for {
		err := unmount()
		if err == nil || !IsBusy(err) {
			return err
		}
		if waited >= total {
			return fmt.Errorf("%w (still busy after waiting %v; held by: %s)", err, waited, describe(Holders(dir)))
		}
		time.Sleep(wait)
		waited += wait
		wait = min(2*wait, maxWait)
	}
}

// IsBusy reports whether an unmount failed because the mount is in use.
func IsBusy(err error) bool {
	return errors.Is(err, syscall.EBUSY) || strings.Contains(err.Error(), "busy")
}

func describe(holders []string) string {
	if len(holders) == 0 {
		return "no process found in /proc (a kernel reference, or a process that has exited since)"
	}
	return strings.Join(holders, "; ")
}
