package disk

import (
	"fmt"
	"slices"
	"sync"
)

// RecOp is the operation of one recorded entry.
type RecOp uint8

// Recorded operations, with dm-log-writes semantics: a Write is durable only
// once a later Flush has completed; a FUA write is durable on its own when
// it completes (and makes nothing else durable); a Mark is a label the
// workload sets between operations and changes nothing on the device.
const (
	RecWrite RecOp = iota // WriteAt
	RecFUA                // WriteDurable
	RecFlush              // Flush
	RecMark               // RecordDevice.Mark
)

var recOpNames = [...]string{"write", "fua", "flush", "mark"}

func (o RecOp) String() string {
	if int(o) < len(recOpNames) {
		return recOpNames[o]
	}
	return fmt.Sprintf("recop-%d", int(o))
}

// RecEntry is one recorded operation. Data is a private copy of a write's
// bytes; Label is a mark's.
type RecEntry struct {
	Op    RecOp
	Off   int64
	Data  []byte
	Kind  Kind
	Label string
}

// IsWrite reports whether the entry writes bytes (plain or FUA).
func (e RecEntry) IsWrite() bool { return e.Op == RecWrite || e.Op == RecFUA }

func (e RecEntry) String() string {
	switch e.Op {
	case RecMark:
		return fmt.Sprintf("mark %q", e.Label)
	case RecFlush:
		return "flush"
	}
	return fmt.Sprintf("%s %s %d bytes at %d", e.Op, e.Kind, len(e.Data), e.Off)
}

// RecordDevice wraps a Device and records every write (with its bytes),
// flush and FUA write that completes on it, in completion order, as
// dm-log-writes does; failed operations are not recorded. The inner device
// sees every operation unchanged, so the workload runs as it would without
// the recorder. WriteDurable is recorded as a FUA write: the Device
// contract promises only that p itself is durable.
type RecordDevice struct {
	inner Device

	mu  sync.Mutex
	log []RecEntry
}

var _ Device = (*RecordDevice)(nil)

// NewRecordDevice wraps inner with an empty recording.
func NewRecordDevice(inner Device) *RecordDevice { return &RecordDevice{inner: inner} }

// Inner is the wrapped device.
func (r *RecordDevice) Inner() Device { return r.inner }

// Mark records a label: an operation boundary, an fsync return, a commit end.
func (r *RecordDevice) Mark(label string) { r.add(RecEntry{Op: RecMark, Label: label}) }

// Entries returns the recording so far (the entries are shared: do not
// modify their Data).
func (r *RecordDevice) Entries() []RecEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// Len is the number of entries recorded so far.
func (r *RecordDevice) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

func (r *RecordDevice) add(e RecEntry) {
	r.mu.Lock()
	r.log = append(r.log, e)
	r.mu.Unlock()
}

// addWrite records a completed write of p.
func (r *RecordDevice) addWrite(op RecOp, p []byte, off int64, k Kind) {
	r.add(RecEntry{Op: op, Off: off, Data: slices.Clone(p), Kind: k})
}

// ReadAt reads the inner device.
func (r *RecordDevice) ReadAt(p []byte, off int64, k Kind) error { return r.inner.ReadAt(p, off, k) }

// WriteAt writes the inner device and records the write once it completed.
func (r *RecordDevice) WriteAt(p []byte, off int64, k Kind) error {
	if err := r.inner.WriteAt(p, off, k); err != nil {
		return err
	}
	r.addWrite(RecWrite, p, off, k)
	return nil
}

// WriteDurable writes durably and records a FUA write.
func (r *RecordDevice) WriteDurable(p []byte, off int64, k Kind) error {
	if err := r.inner.WriteDurable(p, off, k); err != nil {
		return err
	}
	r.addWrite(RecFUA, p, off, k)
	return nil
}

// Flush flushes the inner device and records the flush.
func (r *RecordDevice) Flush() error {
	if err := r.inner.Flush(); err != nil {
		return err
	}
	r.add(RecEntry{Op: RecFlush})
	return nil
}

// Size is the inner device's size.
func (r *RecordDevice) Size() int64 { return r.inner.Size() }

// Stats are the inner device's counters.
func (r *RecordDevice) Stats() Stats { return r.inner.Stats() }

// Close closes the inner device; the recording is kept.
func (r *RecordDevice) Close() error { return r.inner.Close() }

// Preload writes the writes of entries to the inner device and appends the
// entries to the recording, as if they had just completed; their Data is
// shared, not copied. A run starts from a recorded mkfs this way without
// running mkfs again.
func (r *RecordDevice) Preload(entries []RecEntry) error {
	for _, e := range entries {
		if e.IsWrite() {
			if err := r.inner.WriteAt(e.Data, e.Off, e.Kind); err != nil {
				return fmt.Errorf("preload %s: %w", e, err)
			}
		}
	}
	r.mu.Lock()
	r.log = append(r.log, entries...)
	r.mu.Unlock()
	return nil
}
