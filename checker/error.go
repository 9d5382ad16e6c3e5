package checker

import (
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// Kind tells what was being checked when a rule failed; it selects the
// message prefix and which location fields are meaningful.
type Kind uint8

// Kinds of checked object.
const (
	KindSuper    Kind = iota + 1 // a superblock field
	KindSysChunk                 // an entry of the superblock's sys_chunk_array
	KindChunk                    // a chunk item checked alone (CheckChunk)
	KindBlock                    // a tree block header against the reader's expectation (#12–#18)
	KindLeaf                     // leaf structure or a leaf item
	KindNode                     // node structure
	KindWrite                    // write-time generation check (#24)
	// KindTree: blocks of one tree that contradict each other, found by a
	// tree walk (ctree's Verify) or a search meeting a child its parent's
	// pointer does not describe. Level is the block's level.
	KindTree
	// KindExtentRef: extent-tree content contradicting a delayed reference
	// being run (#42). Block is the extent's start; Root, when set, the
	// backref's root, with Level for a tree block or Key (inode,
	// EXTENT_DATA, file offset) for a data backref.
	KindExtentRef
)

var kindPrefix = map[Kind]string{
	KindSuper:     "bad superblock",
	KindSysChunk:  "corrupt superblock syschunk array",
	KindChunk:     "corrupt chunk",
	KindBlock:     "bad tree block",
	KindLeaf:      "corrupt leaf",
	KindNode:      "corrupt node",
	KindWrite:     "write time tree block corruption detected",
	KindTree:      "corrupt tree",
	KindExtentRef: "corrupt extent tree",
}

func (k Kind) String() string {
	if s, ok := kindPrefix[k]; ok {
		return s
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Error is one broken rule: the one corruption error of cowfs, used by the
// checker, the tree code (KindTree) and the delayed-reference runner
// (KindExtentRef). Root is the tree (header owner, or the expected owner for
// KindBlock), Block the tree block's logical address, Slot the item or
// pointer index (-1 when the problem is not in one slot), Key the key of
// that slot or chunk, Level the block's level (KindTree, KindExtentRef).
// Have and Expect, when set, are printed as ", have <Have> expect <Expect>";
// Err, when set, is the error that revealed the fault, printed last.
type Error struct {
	Rule   int
	Kind   Kind
	Root   uint64
	Block  uint64
	Slot   int
	Level  int
	Key    *format.Key
	Reason string
	Have   string
	Expect string
	Err    error
}

// Error prints the kernel tree-checker form, e.g.
// "corrupt leaf: root=5 block=30408704 slot=3, invalid key order, have … expect …".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Rule == RuleSuperSuspicious {
		b.WriteString("superblock warning")
	} else {
		b.WriteString(e.Kind.String())
	}
	b.WriteString(e.where())
	b.WriteString(e.Reason)
	if e.Have != "" || e.Expect != "" {
		fmt.Fprintf(&b, ", have %s expect %s", e.Have, e.Expect)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the error that revealed the fault, if any.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) where() string {
	switch e.Kind {
	case KindSuper:
		return ": "
	case KindSysChunk, KindChunk:
		if e.Key != nil {
			return fmt.Sprintf(": chunk_start=%d, ", e.Key.Offset)
		}
		return ": "
	case KindTree:
		return e.treeWhere()
	case KindExtentRef:
		return e.extentWhere()
	}
	if e.Slot >= 0 {
		return fmt.Sprintf(": root=%d block=%d slot=%d, ", e.Root, e.Block, e.Slot)
	}
	return fmt.Sprintf(": root=%d block=%d, ", e.Root, e.Block)
}

// Is makes every rule error match format.ErrCorrupt; RuleInput errors (a
// caller's bad buffer or context) do not.
func (e *Error) Is(target error) bool {
	return target == format.ErrCorrupt && e.Rule != RuleInput
}

// treeWhere: ": root=R block=B level=L[ slot=S], ".
func (e *Error) treeWhere() string {
	s := fmt.Sprintf(": root=%d block=%d level=%d", e.Root, e.Block, e.Level)
	if e.Slot >= 0 {
		s += fmt.Sprintf(" slot=%d", e.Slot)
	}
	return s + ", "
}

// extentWhere: ": bytenr=B[ root=R level=L | root=R objectid=O offset=F], ".
func (e *Error) extentWhere() string {
	s := fmt.Sprintf(": bytenr=%d", e.Block)
	switch {
	case e.Root == 0:
	case e.Key != nil:
		s += fmt.Sprintf(" root=%d objectid=%d offset=%d", e.Root, e.Key.ObjectID, e.Key.Offset)
	default:
		s += fmt.Sprintf(" root=%d level=%d", e.Root, e.Level)
	}
	return s + ", "
}

// WithHE sets Have and Expect from any printable values.
func (e *Error) WithHE(have, expect any) *Error {
	e.Have, e.Expect = fmt.Sprint(have), fmt.Sprint(expect)
	return e
}

func keyPtr(k format.Key) *format.Key { return &k }

// alignedTo is the usual Expect text for an alignment rule.
func alignedTo(a uint32) string { return fmt.Sprintf("aligned to %d", a) }

func hexU(v uint64) string { return fmt.Sprintf("0x%x", v) }
