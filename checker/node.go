package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// checkNode applies #23: level 1..7, nritems 1..max, every block pointer
// non-zero and sector-aligned, keys strictly increasing.
func checkNode(r *report, block []byte, ctx *Context) {
	n := format.Node(block)
	h := n.Header()
	fail := func(slot int, reason string) *Error {
		e := &Error{Rule: RuleNode, Kind: KindNode, Root: h.Owner(), Block: h.Bytenr(), Slot: slot, Reason: reason}
		r.add(e)
		return e
	}
	if lv := h.Level(); lv == 0 || lv >= format.MaxLevel {
		fail(-1, "invalid level for node").WithHE(lv, fmt.Sprintf("[1, %d]", format.MaxLevel-1))
		return
	}
	nr, maxN := n.NrItems(), format.MaxKeyPtrs(ctx.NodeSize)
	if nr == 0 || nr > maxN {
		fail(-1, "invalid nritems").WithHE(nr, fmt.Sprintf("[1, %d]", maxN))
		return
	}
	for i := 0; i < nr && !r.done(); i++ {
		if e := nodeSlot(n, i, ctx); e != nil {
			e.Root, e.Block, e.Slot = h.Owner(), h.Bytenr(), i
			r.add(e)
		}
	}
}

// nodeSlot checks pointer i; the caller fills in the location.
func nodeSlot(n format.Node, i int, ctx *Context) *Error {
	k := n.Key(i)
	e := &Error{Rule: RuleNode, Kind: KindNode, Key: &k}
	ptr := n.BlockPtr(i)
	switch {
	case ptr == 0:
		e.Reason = "invalid NULL node pointer"
	case !ctx.aligned(ptr):
		e.Reason = "unaligned pointer"
		e.WithHE(ptr, alignedTo(ctx.SectorSize))
	case i > 0 && n.Key(i-1).Compare(k) >= 0:
		e.Reason = "invalid key order"
		e.WithHE(k, "greater than "+n.Key(i-1).String())
	default:
		return nil
	}
	return e
}
