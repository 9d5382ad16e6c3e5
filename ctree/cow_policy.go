package ctree

import (
	"fmt"

	"cowfs/cache"
)

// This file is the one place that decides whether a tree block must be
// copied before it is modified. Every COW decision of every code path
// (SearchSlot on the way down, siblings touched by splits and merges) goes
// through shouldCOW, and every comparison of a header generation with the
// running transid lives here. A new policy (pin-search, pin-handle,
// overwrite, overwrite+pin; ARCHITECTURE.md "COW policies") is a new
// Policy value and a new case below.

// Policy selects the COW rule.
type Policy int

// COW policies.
const (
	// PolicyAlways is today's kernel: COW a block if its header generation
	// is not the running transaction's, or its WRITTEN flag is set, or the
	// root forces COW (snapshot in progress).
	PolicyAlways Policy = iota
	numPolicies
)

var policyNames = [...]string{"always"}

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
// a COW of a block created by the running transaction itself (THREAD.md:
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
	default: // PolicyAlways
		cow := !own || h.Written() || root.ForceCOW.Load()
		return cowDecision{cow: cow, reCOW: cow && own}
	}
}

// discardable reports whether a block being freed may be dropped without
// ever being written: the running transaction created it and no write of it
// has started. No committed root can point to such a block.
func discardable(trans Trans, eb *cache.ExtentBuffer) bool {
	h := eb.Header()
	return h.Generation() == trans.Transid() && !h.Written() && !eb.Has(cache.Writeback)
}
