package transaction

import (
	"errors"
	"fmt"
	"time"

	"cowfs/cache"
	"cowfs/ctree"
)

// Reservations says what happens when a handle's block reserve runs dry.
type Reservations int

const (
	// Strict is the kernel's behaviour: ENOSPC, transaction abort,
	// filesystem read-only, and a dump of every reserve and space_info.
	Strict Reservations = iota
	// Lenient counts the overspend and takes the space from the free pool
	// (the failure only comes when there is no free space at all).
	Lenient
)

func (r Reservations) String() string {
	switch r {
	case Strict:
		return "strict"
	case Lenient:
		return "lenient"
	}
	return fmt.Sprintf("reservations-%d", int(r))
}

// ParseReservations accepts "strict" and "lenient".
func ParseReservations(s string) (Reservations, error) {
	for _, r := range []Reservations{Strict, Lenient} {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown reservation mode %q (want strict or lenient)", ErrInvalidOptions, s)
}

// DefaultCommitInterval is how often the running transaction commits on
// its own, as the kernel's commit= mount option.
const DefaultCommitInterval = 30 * time.Second

// Options configure an opened filesystem; DefaultOptions gives the values
// used when a field is left at zero by the tools.
type Options struct {
	Cache cache.Options
	Tree  ctree.Options
	// CommitInterval: the running transaction commits this often; a
	// negative value disables the timer (commits on demand and at Close).
	CommitInterval time.Duration
	Reservations   Reservations
	// ReadOnly opens without ever writing the device.
	ReadOnly bool
	// IgnoreFreeSpaceTree derives free space from the extent tree even
	// when a valid free-space tree is there (a cross-check for tests).
	IgnoreFreeSpaceTree bool
	// NoLogReplay (read-only opens only) opens an image holding a log tree
	// at its last commit, the log left as it is: the kernel's
	// rescue=nologreplay. Without it a read-only open of such an image is
	// refused, as the kernel refuses one on read-only media.
	NoLogReplay bool
	// ReplayLog replays a pending log tree at a read-write open, before
	// the first commit can run (fs.Open sets it to treelog.Replay). A
	// read-write open of an image holding a log is refused without it.
	ReplayLog func(*FS) error
}

// ErrInvalidOptions marks every error of Options.Validate.
var ErrInvalidOptions = errors.New("invalid option")

// DefaultOptions: the cache's and ctree's defaults, a 30 s commit interval,
// strict reservations, read-write.
func DefaultOptions() Options {
	return Options{Cache: cache.DefaultOptions(), Tree: ctree.DefaultOptions(),
		CommitInterval: DefaultCommitInterval}
}

// Validate checks the options for a filesystem of the given node size.
// Every error wraps ErrInvalidOptions and is one line.
func (o Options) Validate(nodesize uint32) error {
	if err := o.Cache.Validate(nodesize); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if err := o.Tree.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if o.Reservations != Strict && o.Reservations != Lenient {
		return fmt.Errorf("%w: unknown reservation mode %d", ErrInvalidOptions, int(o.Reservations))
	}
	if o.NoLogReplay && !o.ReadOnly {
		return fmt.Errorf("%w: no-log-replay needs a read-only open", ErrInvalidOptions)
	}
	if o.CommitInterval == 0 {
		return fmt.Errorf("%w: commit interval 0 (use a negative value to disable the timer)", ErrInvalidOptions)
	}
	return nil
}

// String prints every option on one line, for benchmarks to print beside
// their figures.
func (o Options) String() string {
	interval := o.CommitInterval.String()
	if o.CommitInterval < 0 {
		interval = "off"
	}
	s := fmt.Sprintf("%s %s commit-interval=%s reservations=%s read-only=%v ignore-free-space-tree=%v",
		o.Cache, o.Tree, interval, o.Reservations, o.ReadOnly, o.IgnoreFreeSpaceTree)
	if o.NoLogReplay {
		s += " no-log-replay"
	}
	return s
}
