package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// CheckBlock validates a tree block read from disk at exp.Bytenr: header
// against exp (#12–#18), then structure (#19–#23), then, for a leaf with the
// WRITTEN flag, its items (#25–#36). It returns the first failure as an
// *Error, or nil. It never panics, whatever the bytes.
func CheckBlock(block []byte, ctx Context, exp Expect) error {
	r := &report{}
	checkRead(r, block, &ctx, exp)
	return r.err()
}

// CheckBlockAll is CheckBlock collecting every problem (see the package doc
// for what stops collection early). An empty result means the block is valid.
func CheckBlockAll(block []byte, ctx Context, exp Expect) []*Error {
	r := &report{all: true}
	checkRead(r, block, &ctx, exp)
	return r.errs
}

// CheckWrite runs the checks due before block is written in a transaction
// (#24): fsid (#13), a generation above lastCommitted, then the structure and
// item checks. The checksum is not verified; it is computed after this.
func CheckWrite(block []byte, ctx Context, lastCommitted uint64) error {
	r := &report{}
	if !checkInput(r, block, &ctx, 0) {
		return r.err()
	}
	h := format.Header(block)
	hc := &headerCheck{r: r, h: h, ctx: &ctx, exp: ExpectAt(h.Bytenr())}
	if hc.fsid(); r.done() {
		return r.err()
	}
	if g := h.Generation(); g <= lastCommitted {
		r.add((&Error{Rule: RuleWriteGen, Kind: KindWrite, Root: h.Owner(), Block: h.Bytenr(),
			Slot: -1, Reason: "bad generation"}).WithHE(g, fmt.Sprintf("> %d", lastCommitted)))
		return r.err()
	}
	checkTree(r, block, &ctx)
	return r.err()
}

// CheckLeaf runs the leaf structure and item checks (#19–#22, #25–#36) on
// block, whatever its header level says; no read expectations, no checksum.
func CheckLeaf(block []byte, ctx Context) error {
	r := &report{}
	if checkInput(r, block, &ctx, 0) {
		checkLeaf(r, block, &ctx)
	}
	return r.err()
}

// CheckNode runs the node structure checks (#23) on block; no read
// expectations, no checksum.
func CheckNode(block []byte, ctx Context) error {
	r := &report{}
	if checkInput(r, block, &ctx, 0) {
		checkNode(r, block, &ctx)
	}
	return r.err()
}

func checkRead(r *report, block []byte, ctx *Context, exp Expect) {
	if !checkInput(r, block, ctx, exp.Bytenr) {
		return
	}
	hc := &headerCheck{r: r, h: format.Header(block), ctx: ctx, exp: exp}
	if !hc.identity() || !hc.levelCsum() || r.done() {
		return
	}
	if hc.expected(); r.done() {
		return
	}
	checkTree(r, block, ctx)
}

// checkTree dispatches on the header level to the leaf or node checks.
func checkTree(r *report, block []byte, ctx *Context) {
	if format.Header(block).Level() == 0 {
		checkLeaf(r, block, ctx)
		return
	}
	checkNode(r, block, ctx)
}

// checkInput rejects a context or buffer the checker cannot judge (RuleInput).
func checkInput(r *report, block []byte, ctx *Context, bytenr uint64) bool {
	e := &Error{Rule: RuleInput, Kind: KindBlock, Block: bytenr, Slot: -1}
	if why := ctx.validate(); why != "" {
		e.Reason = why
	} else if len(block) != int(ctx.NodeSize) {
		e.Reason = "block size does not match nodesize"
		e.WithHE(len(block), ctx.NodeSize)
	} else {
		return true
	}
	r.add(e)
	return false
}
