package disk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// FaultDevice wraps a Device and makes chosen operations fail, for tests of
// error paths and crashes. Rules are armed and disarmed at run time, from
// any goroutine, while I/O goes on:
//
//	f := disk.NewFaultDevice(disk.NewMemDevice(size))
//	// the third metadata write fails
//	f.Arm(disk.FaultRule{Ops: disk.OpWrites, Kinds: []disk.Kind{disk.KindMeta}, Skip: 2, Count: 1})
//	// every read of the first superblock fails
//	f.Arm(disk.FaultRule{Ops: disk.OpRead, Off: 65536, Len: 4096})
//	// power is lost at the 11th write: only its first 4 KiB reach the
//	// device, and every later write and flush fails
//	f.Arm(disk.FaultRule{Ops: disk.OpWrites, Skip: 10, Count: 1, Torn: 4096, Crash: true})
//
// An injected error is a *FaultError: it names the operation, offset and
// length, and matches both ErrInjected and syscall.EIO (errors.Is). An
// operation that is not failed goes to the inner device unchanged, and the
// inner device holds exactly the bytes that reached it: after a crash, what
// was written before it (plus a torn prefix), as a disk without a volatile
// cache would after a power loss.
type FaultDevice struct {
	inner Device

	mu      sync.Mutex
	nextID  FaultID
	rules   []*armedRule // armed, by id
	fired   map[FaultID]uint64
	crashBy FaultID // the rule that crashed the device; 0 while powered
	stats   FaultStats
}

// FaultOp is a set of Device operations.
type FaultOp uint8

// Operations a rule can apply to.
const (
	OpRead    FaultOp = 1 << iota // ReadAt
	OpWrite                       // WriteAt
	OpDurable                     // WriteDurable
	OpFlush                       // Flush

	OpWrites = OpWrite | OpDurable // every write
	opAll    = OpRead | OpWrite | OpDurable | OpFlush
)

var opNames = []string{"read", "write", "write-durable", "flush"}

func (o FaultOp) String() string {
	var parts []string
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := o &^ opAll; rest != 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("op-%#x", uint8(rest)))
	}
	return strings.Join(parts, "|")
}

// FaultRule says which operations fail. An operation matches when it is one
// of Ops, of one of Kinds, and overlaps [Off, Off+Len); a rule counts the
// operations that match from the moment it is armed, lets the first Skip
// through and fails the next Count. So Skip: n-1, Count: 1 fails the n-th
// match, Skip: n, Count: 0 every match after the n-th.
//
// Every armed rule counts every operation it matches, whether another rule
// fails it or not. When several fail the same operation, the one armed
// first names it in the error and sets how much of a write is torn, and any
// of them with Crash crashes the device.
type FaultRule struct {
	Ops FaultOp
	// Kinds restricts the rule to these kinds; empty means every kind. A
	// flush has no kind: Kinds does not restrict flushes.
	Kinds []Kind
	// Off and Len restrict the rule to I/O overlapping [Off, Off+Len);
	// Len 0 means anywhere. A flush has no range: they do not restrict it.
	Off, Len int64
	Skip     uint64 // matches let through before the rule fails any
	Count    uint64 // matches failed after those; 0 means every one
	// Torn, for a write, is how many bytes of its start reach the inner
	// device before the error (all of them if the write is shorter): a
	// torn write. 0 writes nothing.
	Torn int
	// Crash makes the first failure the moment power is lost: from then on
	// every write and flush fails (with Crashed set in the error) whatever
	// the rules say, until Reset. Reads still reach the inner device.
	Crash bool
}

// validate reports a malformed rule.
func (r FaultRule) validate() error {
	switch {
	case r.Ops == 0 || r.Ops&^opAll != 0:
		return fmt.Errorf("ops %s", r.Ops)
	case r.Off < 0 || r.Len < 0 || r.Off+r.Len < r.Off:
		return fmt.Errorf("range [%d, +%d)", r.Off, r.Len)
	case r.Torn < 0 || r.Torn > 0 && r.Ops&OpWrites == 0:
		return fmt.Errorf("torn %d for %s", r.Torn, r.Ops)
	}
	for _, k := range r.Kinds {
		if k < 0 || k >= numKinds {
			return fmt.Errorf("unknown kind %d", int(k))
		}
	}
	return nil
}

// FaultID names an armed rule; ids start at 1.
type FaultID int

type armedRule struct {
	id   FaultID
	r    FaultRule
	seen uint64 // matching operations since armed
	hits uint64 // of them, failed
}

// ErrInjected marks every error a FaultDevice makes up.
var ErrInjected = errors.New("injected fault")

// FaultError is an injected failure. It matches ErrInjected and
// syscall.EIO.
type FaultError struct {
	Op   FaultOp // the one operation that failed
	Off  int64   // its offset; 0 for a flush
	Len  int     // its length; 0 for a flush
	Kind Kind    // its kind; meaningless for a flush
	Rule FaultID // the rule that failed it, or that crashed the device
	Torn int     // bytes of a write that reached the inner device anyway
	// Crashed: the device had lost power before this operation (Rule
	// crashed it); Crash: this operation is the one that lost it.
	Crashed, Crash bool
}

func (e *FaultError) Error() string {
	var b strings.Builder
	var notes []string
	fmt.Fprintf(&b, "injected fault: %s", e.Op)
	if e.Op != OpFlush {
		fmt.Fprintf(&b, " %d bytes at %d", e.Len, e.Off)
		notes = append(notes, e.Kind.String())
	}
	if e.Crashed {
		notes = append(notes, fmt.Sprintf("device crashed by rule %d", e.Rule))
	} else {
		notes = append(notes, fmt.Sprintf("rule %d", e.Rule))
	}
	if e.Torn > 0 {
		notes = append(notes, fmt.Sprintf("torn after %d bytes", e.Torn))
	}
	if e.Crash {
		notes = append(notes, "power lost")
	}
	fmt.Fprintf(&b, " (%s): %v", strings.Join(notes, ", "), syscall.EIO)
	return b.String()
}

// Unwrap makes the error match ErrInjected and syscall.EIO.
func (e *FaultError) Unwrap() []error { return []error{ErrInjected, syscall.EIO} }

// FaultStats counts injected failures.
type FaultStats struct {
	Reads, Writes, Durables, Flushes uint64 // failed operations of each kind
	// Torn counts failed writes of which some bytes reached the inner
	// device.
	Torn uint64
	// AfterCrash counts the writes and flushes refused because the device
	// had crashed (they are in Writes, Durables and Flushes too).
	AfterCrash uint64
}

// Total = Reads + Writes + Durables + Flushes.
func (s FaultStats) Total() uint64 { return s.Reads + s.Writes + s.Durables + s.Flushes }

// NewFaultDevice wraps inner with no rule armed: every operation goes
// through.
func NewFaultDevice(inner Device) *FaultDevice {
	return &FaultDevice{inner: inner, fired: make(map[FaultID]uint64)}
}

// Inner is the wrapped device.
func (f *FaultDevice) Inner() Device { return f.inner }

// Arm adds a rule and returns its id. It panics on a malformed rule (no
// operation, an unknown kind, a negative range, Torn for a rule without
// writes): a bug in the test that built it.
func (f *FaultDevice) Arm(r FaultRule) FaultID {
	if err := r.validate(); err != nil {
		panic(fmt.Sprintf("disk: FaultDevice.Arm: malformed rule: %v", err))
	}
	r.Kinds = slices.Clone(r.Kinds)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.rules = append(f.rules, &armedRule{id: f.nextID, r: r})
	return f.nextID
}

// CrashAfterWrites arms a crash point: the first n writes (WriteAt and
// WriteDurable, any kind) from now go through, and the device loses power
// at the next one, which fails with every write and flush after it.
func (f *FaultDevice) CrashAfterWrites(n uint64) FaultID {
	return f.Arm(FaultRule{Ops: OpWrites, Skip: n, Count: 1, Crash: true})
}

// Disarm removes a rule; it reports whether the rule was armed. A crash
// the rule caused is not undone (see Reset).
func (f *FaultDevice) Disarm(id FaultID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.rules, func(a *armedRule) bool { return a.id == id })
	if i < 0 {
		return false
	}
	f.rules = slices.Delete(f.rules, i, i+1)
	return true
}

// Reset disarms every rule and restores power after a crash. Counters are
// kept.
func (f *FaultDevice) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
	f.crashBy = 0
}

// Crashed reports whether a crash rule has fired since the last Reset.
func (f *FaultDevice) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashBy != 0
}

// Fired is how many operations rule id has failed, armed or not.
func (f *FaultDevice) Fired(id FaultID) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired[id]
}

// Faults returns a snapshot of the injected-fault counters.
func (f *FaultDevice) Faults() FaultStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

var _ Device = (*FaultDevice)(nil)

// ReadAt reads from the inner device unless a rule fails the read.
func (f *FaultDevice) ReadAt(p []byte, off int64, k Kind) error {
	if e := f.decide(OpRead, off, len(p), k); e != nil {
		return e
	}
	return f.inner.ReadAt(p, off, k)
}

// WriteAt writes to the inner device unless a rule fails the write (after
// writing its torn prefix) or the device has crashed.
func (f *FaultDevice) WriteAt(p []byte, off int64, k Kind) error {
	if e := f.decide(OpWrite, off, len(p), k); e != nil {
		return f.tear(p, off, k, e)
	}
	return f.inner.WriteAt(p, off, k)
}

// WriteDurable is WriteAt for OpDurable, made durable by the inner device.
// A torn prefix is written but not flushed.
func (f *FaultDevice) WriteDurable(p []byte, off int64, k Kind) error {
	if e := f.decide(OpDurable, off, len(p), k); e != nil {
		return f.tear(p, off, k, e)
	}
	return f.inner.WriteDurable(p, off, k)
}

// Flush flushes the inner device unless a rule fails it or the device has
// crashed.
func (f *FaultDevice) Flush() error {
	if e := f.decide(OpFlush, 0, 0, 0); e != nil {
		return e
	}
	return f.inner.Flush()
}

// Size is the inner device's size.
func (f *FaultDevice) Size() int64 { return f.inner.Size() }

// Stats are the inner device's counters: the I/O that reached it, torn
// prefixes included.
func (f *FaultDevice) Stats() Stats { return f.inner.Stats() }

// Close closes the inner device; it never fails by a rule.
func (f *FaultDevice) Close() error { return f.inner.Close() }

// tear writes the torn prefix of a failed write, if any, and returns the
// injected error (joined with the prefix's own error if that failed).
func (f *FaultDevice) tear(p []byte, off int64, k Kind, e *FaultError) error {
	if e.Torn == 0 {
		return e
	}
	if err := f.inner.WriteAt(p[:e.Torn], off, k); err != nil {
		return errors.Join(e, fmt.Errorf("torn prefix: %w", err))
	}
	return e
}

// decide counts the operation against every armed rule and returns the
// failure to inject, or nil to let it through.
func (f *FaultDevice) decide(op FaultOp, off int64, n int, k Kind) *FaultError {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashBy != 0 && op != OpRead { // power is off: the rules see nothing
		e := &FaultError{Op: op, Off: off, Len: n, Kind: k, Rule: f.crashBy, Crashed: true}
		f.stats.AfterCrash++
		f.countLocked(e)
		return e
	}
	var e *FaultError
	for _, a := range f.rules {
		if !a.fires(op, off, n, k) {
			continue
		}
		f.fired[a.id]++
		if e == nil {
			e = &FaultError{Op: op, Off: off, Len: n, Kind: k, Rule: a.id}
			if op&OpWrites != 0 {
				e.Torn = min(a.r.Torn, n)
			}
		}
		if a.r.Crash && f.crashBy == 0 {
			f.crashBy = a.id
			e.Crash = true
		}
	}
	if e != nil {
		f.countLocked(e)
	}
	return e
}

// countLocked adds an injected failure to the counters. REQUIRES: f.mu.
func (f *FaultDevice) countLocked(e *FaultError) {
	switch e.Op {
	case OpRead:
		f.stats.Reads++
	case OpWrite:
		f.stats.Writes++
	case OpDurable:
		f.stats.Durables++
	case OpFlush:
		f.stats.Flushes++
	}
	if e.Torn > 0 {
		f.stats.Torn++
	}
}

// fires counts op if the rule matches it and reports whether the rule
// fails it. REQUIRES: the device's mutex.
func (a *armedRule) fires(op FaultOp, off int64, n int, k Kind) bool {
	if !a.r.matches(op, off, n, k) {
		return false
	}
	a.seen++
	if a.seen <= a.r.Skip || a.r.Count != 0 && a.hits >= a.r.Count {
		return false
	}
	a.hits++
	return true
}

// matches reports whether the operation is one the rule applies to.
func (r *FaultRule) matches(op FaultOp, off int64, n int, k Kind) bool {
	switch {
	case r.Ops&op == 0:
		return false
	case op == OpFlush:
		return true
	case len(r.Kinds) > 0 && !slices.Contains(r.Kinds, k):
		return false
	}
	return r.Len == 0 || off < r.Off+r.Len && r.Off < off+int64(max(n, 1))
}
