package fs

import (
	"errors"
	"fmt"
	"io"

	"cowfs/transaction"
)

// DefaultDirtyThreshold is how many bytes of file data Write may buffer,
// over all files, before the writer flushes (see docs/fs.md, "Buffered
// writes").
const DefaultDirtyThreshold = 32 << 20

// Options configure an opened filesystem.
type Options struct {
	// Transaction: cache, trees, commit interval, reservations, read-only.
	// Open validates them against the image's node size.
	Transaction transaction.Options
	// DirtyThreshold is the number of buffered (not yet written) bytes of
	// file data, summed over all files, above which a Write flushes. 0
	// disables buffering: every Write goes to the trees at once.
	DirtyThreshold int64
	// Log receives warnings (one line each); nil means stderr. It is not an
	// option of the filesystem's behaviour and String leaves it out.
	Log io.Writer
}

// ErrInvalidOptions marks every error of Options.Validate.
var ErrInvalidOptions = errors.New("invalid fs option")

// DefaultOptions: transaction.DefaultOptions and a 32 MiB dirty-data
// threshold.
func DefaultOptions() Options {
	return Options{Transaction: transaction.DefaultOptions(), DirtyThreshold: DefaultDirtyThreshold}
}

// Validate checks the options of this layer; the transaction options are
// checked by Open, which knows the node size. Every error wraps
// ErrInvalidOptions and is one line.
func (o Options) Validate() error {
	if o.DirtyThreshold < 0 {
		return fmt.Errorf("%w: dirty threshold %d (want >= 0; 0 disables buffering)", ErrInvalidOptions, o.DirtyThreshold)
	}
	return nil
}

// String prints every option on one line, for benchmarks to print beside
// their figures.
func (o Options) String() string {
	return fmt.Sprintf("%s data-buffer=%d", o.Transaction, o.DirtyThreshold)
}

// MemoryOverhead is what a daemon's memory bound allows besides the cache
// budget and the data buffer: the Go runtime, go-fuse's request buffers,
// the open-inode counts, writeback staging and the binary's own pages.
const MemoryOverhead = 32 << 20

// binaryRSS is the part of MemoryOverhead left to memory the Go runtime
// does not manage: the executable's text and data pages.
const binaryRSS = 8 << 20

// MemoryBound is the peak resident size a process serving the filesystem
// aims at: cache budget + data buffer + MemoryOverhead.
func (o Options) MemoryBound() int64 {
	return o.Transaction.Cache.Budget + o.DirtyThreshold + MemoryOverhead
}

// GoMemoryLimit is the Go runtime's soft limit (debug.SetMemoryLimit) that
// keeps the process within MemoryBound: the bound less the cache budget,
// whose blocks live in the cache's own mappings outside the Go heap, and
// less the binary's pages.
func (o Options) GoMemoryLimit() int64 {
	return o.MemoryBound() - o.Transaction.Cache.Budget - binaryRSS
}
