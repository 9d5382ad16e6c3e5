package ctree

import (
	"errors"
	"fmt"
)

// Options configure the trees of one filesystem (see Env).
type Options struct {
	// Policy is the COW policy shouldCOW applies (cow_policy.go).
	Policy Policy
	// HoldReadsAfter bounds the kernel's restart behaviour: a search that
	// finds a child uncached releases its path, reads the block, drops the
	// reference and restarts, so under a tight budget the block can be
	// evicted again before the walk gets back to it (reclaim evicts clean
	// blocks before it writes dirty ones). After HoldReadsAfter such reads in
	// one SearchSlot, the blocks it reads stay referenced (not locked) until
	// it returns, which guarantees progress. 0 means DefaultHoldReadsAfter;
	// -1 means never (the kernel's behaviour, for reproducing unbounded
	// restart loops: the search may then not terminate when the cache cannot
	// hold its path).
	HoldReadsAfter int
	// Zoned says the device refuses to rewrite a written block until its
	// block group is reset (disk.ZonedDevice): the overwrite policies COW
	// instead, and overwrite+pin pins.
	Zoned bool
}

// DefaultHoldReadsAfter is the HoldReadsAfter used when the option is 0.
const DefaultHoldReadsAfter = 8

func (o Options) holdReadsAfter() int {
	if o.HoldReadsAfter == 0 {
		return DefaultHoldReadsAfter
	}
	return o.HoldReadsAfter
}

// ErrInvalidOptions marks every error of Options.Validate.
var ErrInvalidOptions = errors.New("invalid ctree option")

// DefaultOptions: the `always` COW policy (today's kernel).
func DefaultOptions() Options { return Options{Policy: PolicyAlways} }

// Validate checks the options; every error wraps ErrInvalidOptions.
func (o Options) Validate() error {
	switch {
	case !o.Policy.valid():
		return fmt.Errorf("%w: unknown COW policy %d", ErrInvalidOptions, int(o.Policy))
	case o.HoldReadsAfter < -1:
		return fmt.Errorf("%w: hold-reads-after %d (want -1, 0 or a positive count)", ErrInvalidOptions, o.HoldReadsAfter)
	}
	return nil
}

// String prints the options on one line, e.g. "cow-policy=always
// hold-reads-after=8", for benchmarks to print beside their figures.
func (o Options) String() string {
	s := fmt.Sprintf("cow-policy=%s hold-reads-after=%d", o.Policy, o.holdReadsAfter())
	if o.Zoned {
		s += " zoned"
	}
	return s
}
