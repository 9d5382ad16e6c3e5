package cache

import "fmt"

// WritebackIO says what a buffer's tree lock does during its write, and
// where the written bytes come from.
type WritebackIO int

// Writeback I/O modes.
const (
	// IOLocked holds the write lock from the checksum to the end of the
	// I/O: a writer that wants the block waits until it is on disk, so the
	// bytes written are the bytes checked (the default).
	IOLocked WritebackIO = iota
	// IOUnlocked is the kernel's: the lock is released once WRITEBACK is
	// set and the I/O writes the buffer itself. It is safe only if no
	// writer modifies a block under writeback (every COW policy but the
	// negative control overwrite-no-wb-check COWs such a block).
	IOUnlocked
	// IOBounce (the bounce policy) snapshots the checked bytes into a
	// private buffer under the lock, releases the lock and writes the
	// snapshot: a block under writeback may be modified in place, and no
	// writer waits for an I/O.
	IOBounce
	numWritebackIO
)

var writebackIONames = [...]string{"locked", "unlocked", "bounce"}

func (m WritebackIO) String() string {
	if m < 0 || m >= numWritebackIO {
		return fmt.Sprintf("writeback-io-%d", int(m))
	}
	return writebackIONames[m]
}

// ParseWritebackIO accepts the names String prints.
func ParseWritebackIO(s string) (WritebackIO, error) {
	for i, n := range writebackIONames {
		if s == n {
			return WritebackIO(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown writeback I/O mode %q (want locked, unlocked or bounce)", ErrInvalidOptions, s)
}

// releasesLock reports whether the lock is dropped before the I/O.
func (m WritebackIO) releasesLock() bool { return m != IOLocked }
