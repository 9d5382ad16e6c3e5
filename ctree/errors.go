package ctree

import (
	"errors"
	"fmt"

	"cowfs/checker"
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

// corrupt returns the corruption error of a tree that is not what it must
// be: found by Verify, or by a search that met a child whose header
// contradicts its parent's pointer. It prints in the kernel tree-checker's
// form, e.g.
//
//	corrupt tree: root=256 block=5259264 level=1 slot=3, key pointer generation mismatch, have 7 expect 9
//
// rule is the checker rule the fault breaks; slot is -1 when the fault is
// not in one slot.
func corrupt(rule int, root, block uint64, level, slot int, reason string) *checker.Error {
	return &checker.Error{Rule: rule, Kind: checker.KindTree, Root: root, Block: block, Level: level, Slot: slot,
		Reason: reason}
}

// corruptBy is corrupt for a fault revealed by err (the checker's error for
// the block, or its read error): err's rule when it has one, otherwise #14
// (a block that cannot be read back counts as a failed checksum).
func corruptBy(err error, root, block uint64, level, slot int, reason string) *checker.Error {
	rule := checker.RuleLevelCsum
	if ce, ok := errors.AsType[*checker.Error](err); ok && ce.Rule != checker.RuleInput {
		rule = ce.Rule
	}
	e := corrupt(rule, root, block, level, slot, reason)
	e.Err = err
	return e
}
