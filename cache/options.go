package cache

import (
	"errors"
	"fmt"
	"time"

	"cowfs/checker"
)

// WritebackOrder chooses which dirty unreferenced buffers reclaim and the
// flusher write first.
type WritebackOrder int

// Writeback orders.
const (
	// OrderAddress writes the lowest addresses first (today's kernel).
	OrderAddress WritebackOrder = iota
	// OrderLRU writes the least recently dirtied first, so the block a
	// search has just COWed is the last to be flushed (docs/problem.md, Qu).
	OrderLRU
)

var orderNames = [...]string{"address", "lru"}

func (o WritebackOrder) String() string {
	if o < 0 || int(o) >= len(orderNames) {
		return fmt.Sprintf("order-%d", int(o))
	}
	return orderNames[o]
}

// ParseOrder accepts "address" and "lru".
func ParseOrder(s string) (WritebackOrder, error) {
	for i, n := range orderNames {
		if s == n {
			return WritebackOrder(i), nil
		}
	}
	return 0, fmt.Errorf("unknown writeback order %q (want address or lru)", s)
}

// Cause says why a buffer was written back; writebacks are counted by cause.
type Cause int

// Writeback causes.
const (
	CauseReclaim   Cause = iota // a new buffer would exceed the budget
	CauseThreshold              // the flusher: dirty bytes reached DirtyThreshold
	CauseCommit                 // transaction commit (WriteDirty, FlushAll)
	CauseFsync                  // log tree sync (WriteDirty)
	NumCauses                   // number of causes; not a cause
)

var causeNames = [...]string{"reclaim", "threshold", "commit", "fsync"}

func (c Cause) String() string {
	if c < 0 || c >= NumCauses {
		return fmt.Sprintf("cause-%d", int(c))
	}
	return causeNames[c]
}

// Options configure a Cache.
type Options struct {
	// Budget is the bytes of buffers the cache aims to hold. It is exceeded
	// rather than deadlock or drop a dirty buffer (Stats.OverBudget).
	Budget int64
	// DirtyThreshold is the dirty bytes at which the flusher wakes; it then
	// writes until dirty bytes are at most DirtyThreshold/2. 0 means the
	// Budget (the default): the flusher stays idle until the cache is all
	// dirty, so a transaction's blocks are written before its commit only
	// when reclaim needs the room, as the kernel writes btree pages early
	// only under memory pressure (docs/transaction.md). A value of
	// math.MaxInt64 disables the flusher (deterministic tests).
	DirtyThreshold int64
	// FlushInterval is how often the flusher rechecks the threshold on its
	// own, besides being woken by MarkDirty and Release; 0 means only when
	// woken.
	FlushInterval time.Duration
	// Order is the writeback order of reclaim and the flusher.
	Order WritebackOrder
	// IO is what a buffer's lock does during its write (writeback_io.go):
	// held (the default), released, or released after a private copy.
	IO WritebackIO
	// WritebackDepth is how many runs of adjacent blocks one writeback call
	// (WriteDirty, FlushAll, a reclaim or flusher batch) writes at once,
	// each from a goroutine of its own: the device writes in flight (two
	// per run on a DUP chunk, one after the other). 1 writes on the
	// caller's goroutine, one run after the other. 0 means
	// DefaultWritebackDepth.
	WritebackDepth int
	// WritebackMaxIO is the largest device write of a run of adjacent
	// blocks merged together, in bytes: at least one node. 0 means
	// DefaultWritebackMaxIO.
	WritebackMaxIO int64
}

// Writeback I/O defaults and limits.
const (
	DefaultWritebackDepth = 32
	DefaultWritebackMaxIO = 1 << 20
	MaxWritebackDepth     = 1024
	MaxWritebackMaxIO     = 64 << 20
)

// writebackDepth is WritebackDepth with its default applied.
func (o Options) writebackDepth() int {
	if o.WritebackDepth == 0 {
		return DefaultWritebackDepth
	}
	return o.WritebackDepth
}

// dirtyThreshold is DirtyThreshold with its default applied.
func (o Options) dirtyThreshold() int64 {
	if o.DirtyThreshold == 0 {
		return o.Budget
	}
	return o.DirtyThreshold
}

// writebackMaxIO is WritebackMaxIO with its default applied.
func (o Options) writebackMaxIO() int64 {
	if o.WritebackMaxIO == 0 {
		return DefaultWritebackMaxIO
	}
	return o.WritebackMaxIO
}

// MinBudgetNodes is the smallest budget Validate accepts, in nodes.
const MinBudgetNodes = 4

// ErrInvalidOptions marks every error of Options.Validate.
var ErrInvalidOptions = errors.New("invalid cache option")

// DefaultOptions: a 64 MiB budget, the dirty threshold at the budget, a 1 s
// flusher period, address order, DefaultWritebackDepth writes of up to
// DefaultWritebackMaxIO in flight.
func DefaultOptions() Options {
	return Options{Budget: 64 << 20, FlushInterval: time.Second,
		WritebackDepth: DefaultWritebackDepth, WritebackMaxIO: DefaultWritebackMaxIO}
}

// Validate checks the options for a filesystem with the given node size.
// Every error wraps ErrInvalidOptions and is one line.
func (o Options) Validate(nodesize uint32) error {
	minBudget := int64(MinBudgetNodes) * int64(nodesize)
	switch {
	case nodesize == 0:
		return invalid("nodesize 0")
	case o.Budget < minBudget:
		return invalid("budget %s is below %d nodes (%s)", formatSize(o.Budget), MinBudgetNodes, formatSize(minBudget))
	case o.DirtyThreshold < 0 || o.DirtyThreshold > 0 && o.DirtyThreshold < int64(nodesize):
		return invalid("dirty threshold %s is below one node (%d bytes; 0 is the budget)", formatSize(o.DirtyThreshold), nodesize)
	case o.FlushInterval < 0:
		return invalid("flush interval %v is negative", o.FlushInterval)
	case o.Order != OrderAddress && o.Order != OrderLRU:
		return invalid("unknown writeback order %d", int(o.Order))
	case o.IO < 0 || o.IO >= numWritebackIO:
		return invalid("unknown writeback I/O mode %d", int(o.IO))
	}
	return o.validateWritebackIO(nodesize)
}

func (o Options) validateWritebackIO(nodesize uint32) error {
	switch {
	case o.WritebackDepth < 0 || o.WritebackDepth > MaxWritebackDepth:
		return invalid("writeback depth %d outside [1, %d] (0 is the default, %d)",
			o.WritebackDepth, MaxWritebackDepth, DefaultWritebackDepth)
	case o.WritebackMaxIO < 0 || o.WritebackMaxIO > MaxWritebackMaxIO:
		return invalid("writeback max I/O %s outside [one node, %s] (0 is the default, %s)",
			formatSize(o.WritebackMaxIO), formatSize(MaxWritebackMaxIO), formatSize(DefaultWritebackMaxIO))
	case o.WritebackMaxIO != 0 && o.WritebackMaxIO < int64(nodesize):
		return invalid("writeback max I/O %s is below one node (%d bytes)", formatSize(o.WritebackMaxIO), nodesize)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
}

// String prints the options on one line, defaults applied, e.g.
// "budget=64MiB dirty-threshold=64MiB flush-interval=1s order=address
// writeback-io=locked writeback-depth=32 writeback-max-io=1MiB".
func (o Options) String() string {
	return fmt.Sprintf("budget=%s dirty-threshold=%s flush-interval=%v order=%s writeback-io=%s writeback-depth=%d writeback-max-io=%s",
		formatSize(o.Budget), formatSize(o.dirtyThreshold()), o.FlushInterval, o.Order, o.IO,
		o.writebackDepth(), formatSize(o.writebackMaxIO()))
}

// formatSize prints n exactly, in the largest binary unit dividing it.
func formatSize(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// validContext rejects a checker context the cache cannot work with.
func validContext(ctx checker.Context) error {
	n := ctx.NodeSize
	switch {
	case n < 4096 || n > 65536 || n&(n-1) != 0:
		return fmt.Errorf("cache: invalid nodesize %d in checker context", n)
	case ctx.SectorSize == 0 || ctx.SectorSize&(ctx.SectorSize-1) != 0 || ctx.SectorSize > n:
		return fmt.Errorf("cache: invalid sectorsize %d in checker context", ctx.SectorSize)
	case !ctx.CsumType.Valid():
		return fmt.Errorf("cache: invalid checksum type %d in checker context", uint16(ctx.CsumType))
	}
	return nil
}
