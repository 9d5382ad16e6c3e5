package ctree

import (
	"errors"
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// Sentinel errors of the tree operations. Callers switch on them with
// errors.Is; messages carry the key or sizes involved.
var (
	// ErrNotFound: the key is not in the tree.
	ErrNotFound = errors.New("ctree: key not found")
	// ErrExists: an insert found the key already present.
	ErrExists = errors.New("ctree: key exists")
	// ErrItemTooLarge: an item (or a batch) would not fit in one leaf.
	ErrItemTooLarge = errors.New("ctree: item too large")
	// ErrInvalid: a caller passed arguments the operation cannot accept
	// (a nil transaction for a modifying search, unsorted batch keys, ...).
	ErrInvalid = errors.New("ctree: invalid argument")
)

// notFound is ErrNotFound for one key. It is formatted only when printed:
// a miss is a lookup's ordinary answer (a create looks its name up first).
type notFound struct{ key format.Key }

func notFoundError(key format.Key) error { return &notFound{key} }

func (e *notFound) Error() string { return fmt.Sprintf("%v: %v", ErrNotFound, e.key) }
func (e *notFound) Unwrap() error { return ErrNotFound }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Error reports a tree that is not what it must be: found by Verify, or by a
// search that met a child whose header contradicts its parent's pointer. It
// locates the fault in the kernel tree-checker's form, e.g.
//
//	corrupt tree: root=256 block=5259264 level=1 slot=3, key pointer generation mismatch, have 7 expect 9
//
// errors.Is(err, format.ErrCorrupt) holds; Err, when set, is the checker's
// error for the block (Unwrap returns it).
type Error struct {
	Root   uint64
	Block  uint64
	Level  int
	Slot   int // -1: not one slot
	Reason string
	Have   string
	Expect string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "corrupt tree: root=%d block=%d level=%d", e.Root, e.Block, e.Level)
	if e.Slot >= 0 {
		fmt.Fprintf(&b, " slot=%d", e.Slot)
	}
	b.WriteString(", ")
	b.WriteString(e.Reason)
	if e.Have != "" || e.Expect != "" {
		fmt.Fprintf(&b, ", have %s expect %s", e.Have, e.Expect)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the checker's error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is makes every Error match format.ErrCorrupt.
func (e *Error) Is(target error) bool { return target == format.ErrCorrupt }

// withHE sets Have and Expect.
func (e *Error) withHE(have, expect any) *Error {
	e.Have, e.Expect = fmt.Sprint(have), fmt.Sprint(expect)
	return e
}
