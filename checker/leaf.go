package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// leafCheck runs the leaf structure rules (#19–#22) and then the item rules.
type leafCheck struct {
	r   *report
	ctx *Context
	l   format.Leaf
	h   format.Header
	n   int
}

func checkLeaf(r *report, block []byte, ctx *Context) {
	lc := &leafCheck{r: r, ctx: ctx, l: format.Leaf(block), h: format.Header(block)}
	lc.n = lc.l.NrItems()
	if !lc.header() || r.done() {
		return
	}
	ok := lc.layout()
	if !r.done() && lc.h.Written() {
		lc.items(ok)
	}
}

func (lc *leafCheck) fail(rule, slot int, reason string) *Error {
	e := &Error{Rule: rule, Kind: KindLeaf, Root: lc.h.Owner(), Block: lc.h.Bytenr(), Slot: slot, Reason: reason}
	lc.r.add(e)
	return e
}

// header checks level and WRITTEN (#19), empty leaves (#20) and that the
// item headers fit (#22). It reports false when no slot can be examined.
func (lc *leafCheck) header() bool {
	if lv := lc.h.Level(); lv != 0 {
		lc.fail(RuleLeafHeader, -1, "invalid level for leaf").WithHE(lv, 0)
		return false
	}
	if !lc.h.Written() {
		lc.fail(RuleLeafHeader, -1, "invalid flag for leaf, WRITTEN not set")
	}
	if lc.n == 0 {
		lc.empty()
		return false
	}
	if maxN := int(format.LeafDataSize(lc.ctx.NodeSize)) / format.ItemHeaderSize; lc.n > maxN {
		lc.fail(RuleItemLayout, -1, "invalid nritems").WithHE(lc.n, fmt.Sprintf("at most %d", maxN))
		return false
	}
	return true
}

// neverEmpty lists the trees whose root leaf always holds items (#20).
var neverEmpty = map[uint64]bool{
	format.RootTreeObjectID: true, format.ChunkTreeObjectID: true,
	format.DevTreeObjectID: true, format.FSTreeObjectID: true,
	format.DataRelocTreeObjectID: true,
}

// empty applies #20 to a leaf without items. Relocation-tree blocks carry
// their source subvolume as owner, so they are exempt.
func (lc *leafCheck) empty() {
	owner := lc.h.Owner()
	switch {
	case lc.h.Flags()&format.HeaderFlagReloc != 0:
	case neverEmpty[owner]:
		lc.fail(RuleEmptyLeaf, 0, fmt.Sprintf("invalid root, root %d must never be empty", owner))
	case owner == 0:
		lc.fail(RuleEmptyLeaf, 0, "invalid owner, root 0 is not defined")
	case owner == format.ExtentTreeObjectID && !lc.ctx.hasIncompat(format.IncompatExtentTreeV2):
		lc.fail(RuleEmptyLeaf, 0, fmt.Sprintf("invalid root, root %d must never be empty", owner))
	}
}

// layout checks key order (#21) and item placement (#22) slot by slot; the
// result tells which slots have sound data for the item checks.
func (lc *leafCheck) layout() []bool {
	ok := make([]bool, lc.n)
	for i := 0; i < lc.n && !lc.r.done(); i++ {
		lc.keyOrder(i)
		if !lc.r.done() {
			ok[i] = lc.placement(i)
		}
	}
	return ok
}

func (lc *leafCheck) keyOrder(i int) {
	if i == 0 {
		return
	}
	prev, cur := lc.l.ItemKey(i-1), lc.l.ItemKey(i)
	if prev.Compare(cur) >= 0 {
		e := lc.fail(RuleKeyOrder, i, "invalid key order").WithHE(cur, "greater than "+prev.String())
		e.Key = keyPtr(cur)
	}
}

// placement checks that item i's data ends where item i-1's begins (item 0's
// at the end of the leaf) and does not reach into the item headers (#22).
func (lc *leafCheck) placement(i int) bool {
	size := uint64(format.LeafDataSize(lc.ctx.NodeSize))
	off := uint64(lc.l.ItemOffset(i))
	end := off + uint64(lc.l.ItemSize(i))
	want := size
	if i > 0 {
		want = uint64(lc.l.ItemOffset(i - 1))
	}
	var e *Error
	switch hdrEnd := uint64(i+1) * format.ItemHeaderSize; {
	case end != want:
		e = lc.fail(RuleItemLayout, i, "unexpected item end").WithHE(end, want)
	case end > size:
		e = lc.fail(RuleItemLayout, i, "slot end outside of leaf").WithHE(end, fmt.Sprintf("range [0, %d]", size))
	case off < hdrEnd:
		e = lc.fail(RuleItemLayout, i, "slot overlaps with its data").WithHE(
			fmt.Sprintf("data start %d", off), fmt.Sprintf("at least item end %d", hdrEnd))
	default:
		return true
	}
	e.Key = keyPtr(lc.l.ItemKey(i))
	return false
}

// items runs the per-item rules on every slot whose layout is sound.
func (lc *leafCheck) items(ok []bool) {
	for i := 0; i < lc.n && !lc.r.done(); i++ {
		if !ok[i] {
			continue
		}
		if it := lc.item(i, ok); it != nil {
			lc.r.add(checkItem(it))
		}
	}
}

// item gathers what the item rules look at for slot i; nil if its data is
// not inside the leaf.
func (lc *leafCheck) item(i int, ok []bool) *item {
	data, err := lc.l.ItemDataChecked(i)
	if err != nil {
		return nil
	}
	it := &item{ctx: lc.ctx, root: lc.h.Owner(), block: lc.h.Bytenr(), slot: i,
		key: lc.l.ItemKey(i), data: data}
	if i > 0 {
		prev := lc.l.ItemKey(i - 1)
		it.prev = &prev
		if ok[i-1] {
			it.prevData, _ = lc.l.ItemDataChecked(i - 1)
		}
	}
	return it
}
