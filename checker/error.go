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
)

var kindPrefix = map[Kind]string{
	KindSuper:    "bad superblock",
	KindSysChunk: "corrupt superblock syschunk array",
	KindChunk:    "corrupt chunk",
	KindBlock:    "bad tree block",
	KindLeaf:     "corrupt leaf",
	KindNode:     "corrupt node",
	KindWrite:    "write time tree block corruption detected",
}

func (k Kind) String() string {
	if s, ok := kindPrefix[k]; ok {
		return s
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Error is one broken rule. Root is the tree (header owner, or the expected
// owner for KindBlock), Block the tree block's logical address, Slot the
// item or pointer index (-1 when the problem is not in one slot), Key the
// key of that slot or chunk. Have and Expect, when set, are printed as
// ", have <Have> expect <Expect>".
type Error struct {
	Rule   int
	Kind   Kind
	Root   uint64
	Block  uint64
	Slot   int
	Key    *format.Key
	Reason string
	Have   string
	Expect string
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
	return b.String()
}

func (e *Error) where() string {
	switch e.Kind {
	case KindSuper:
		return ": "
	case KindSysChunk, KindChunk:
		if e.Key != nil {
			return fmt.Sprintf(": chunk_start=%d, ", e.Key.Offset)
		}
		return ": "
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

// withHE sets Have and Expect from any printable values.
func (e *Error) withHE(have, expect any) *Error {
	e.Have, e.Expect = fmt.Sprint(have), fmt.Sprint(expect)
	return e
}

func keyPtr(k format.Key) *format.Key { return &k }

// alignedTo is the usual Expect text for an alignment rule.
func alignedTo(a uint32) string { return fmt.Sprintf("aligned to %d", a) }

func hexU(v uint64) string { return fmt.Sprintf("0x%x", v) }
