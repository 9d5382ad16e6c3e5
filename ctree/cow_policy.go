package ctree

import (
	"fmt"

	"cowfs/cache"
)

// This file is the one place that decides whether a tree block must be
// copied before it is modified. Every COW decision of every code path
// (SearchSlot on the way down, siblings touched by splits and merges) goes
// through shouldCOW, and every comparison of a header generation with the
// running transid lives here, as do pin-search's pins. A new policy
// (pin-handle, overwrite, overwrite+pin; ARCHITECTURE.md "COW policies") is
// a new Policy value and a new case below.

// Policy selects the COW rule.
type Policy int

// COW policies.
const (
	// PolicyAlways is today's kernel: COW a block if its header generation
	// is not the running transaction's, or its WRITTEN flag is set, or the
	// root forces COW (snapshot in progress).
	PolicyAlways Policy = iota
	// PolicyPinSearch is always's rule, and every block a SearchSlot
	// COWs is pinned against writeback (cache.ExtentBuffer.BlockWriteback)
	// until that search returns: a restart cannot find its own copy
	// WRITTEN and COW it again (the seed's patch, docs/problem.md). The pins
	// are taken and dropped in searchSlot (pinCOW, then PinList.UnpinAll).
	PolicyPinSearch
	// PolicyPinHandle is pin-search with the pins held by the transaction
	// handle (Trans.PinUntilEnd) until it ends: the searches of one
	// operation (a create's five items) never COW each other's copies
	// again either.
	PolicyPinHandle
	numPolicies
)

var policyNames = [...]string{"always", "pin-search", "pin-handle"}

// PolicyNames lists the policies' names, in Policy order.
func PolicyNames() []string { return policyNames[:] }

func (p Policy) valid() bool { return p >= 0 && p < numPolicies }

func (p Policy) String() string {
	if !p.valid() {
		return fmt.Sprintf("policy-%d", int(p))
	}
	return policyNames[p]
}

// ParsePolicy accepts the names String prints.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if s == n {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown COW policy %q (want one of %v)", ErrInvalidOptions, s, policyNames)
}

// cowDecision is shouldCOW's answer. reCOW classifies a COW for the figures:
// a COW of a block created by the running transaction itself (docs/problem.md:
// the amplification loop COWs such blocks again after writeback set their
// WRITTEN flag).
type cowDecision struct {
	cow   bool
	reCOW bool
}

// shouldCOW decides whether eb, a block of root about to be modified under
// trans, must be copied first. The caller holds eb's lock, so WRITTEN (set
// by writeback under the write lock) cannot change meanwhile.
func shouldCOW(trans Trans, root *Root, eb *cache.ExtentBuffer) cowDecision {
	h := eb.Header()
	own := h.Generation() == trans.Transid()
	switch root.env.Options.Policy {
	default: // PolicyAlways, PolicyPinSearch, PolicyPinHandle: the same
		// rule; the pin policies keep their copies from being written.
		cow := !own || h.Written() || root.ForceCOW.Load()
		return cowDecision{cow: cow, reCOW: cow && own}
	}
}

// pinCOW pins a new copy against writeback: under pin-search a search's
// copies, which the search unpins when it returns (PinList.UnpinAll); under
// pin-handle every copy, which the handle unpins when it ends.
func (o *op) pinCOW(nb *cache.ExtentBuffer) {
	switch o.root.env.Options.Policy {
	case PolicyPinSearch:
		if o.searching {
			o.pins.Pin(nb)
		}
	case PolicyPinHandle:
		o.trans.PinUntilEnd(nb)
	}
}

// discardable reports whether a block being freed may be dropped without
// ever being written: the running transaction created it and no write of it
// has started. No committed root can point to such a block.
func discardable(trans Trans, eb *cache.ExtentBuffer) bool {
	h := eb.Header()
	return h.Generation() == trans.Transid() && !h.Written() && !eb.Has(cache.Writeback)
}
