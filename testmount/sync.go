package testmount

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Sync commits the one filesystem mounted at dir with syncfs(2). Tests must
// never call sync(2) or sync(1): that commits every mount on the machine,
// including a parallel test's, and drops the log tree it is building.
func Sync(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
