package ctree

import (
	"fmt"

	"cowfs/cache"
)

// This file is the one place that decides whether a tree block must be
// copied before it is modified. Every COW decision of every code path
// (SearchSlot on the way down, siblings touched by splits and merges) goes
// through shouldCOW, and every comparison of a header generation with the
// running transid lives here, as do the pins and overwrite's re-dirtying.
// A new policy is a new Policy value and a new case below
// (docs/policies.md).

// Policy selects the COW rule.
type Policy int

// COW policies. The safe ones come first; from PolicyOverwriteNoWBCheck on
// they are the thread's known-unsafe variants, negative controls for the
// checkers (Unsafe).
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
	// PolicyOverwrite (Filipe's) rewrites a WRITTEN block of the running
	// transaction in place — re-dirtied, back in the transaction's dirty
	// set — unless it is under writeback, its last write failed, the root
	// forces COW, it belongs to a log tree or the device is zoned
	// (overwritable).
	PolicyOverwrite
	// PolicyOverwritePin is overwrite, with pin-handle's pins for log
	// trees and zoned devices, where overwrite is impossible (the
	// thread's conclusion).
	PolicyOverwritePin
	// PolicyBounce is overwrite on a cache whose writeback writes from a
	// private copy (cache.IOBounce): a block under writeback is rewritten
	// in place too, and no writer waits for an I/O (Sun's lightweight COW).
	PolicyBounce
	// PolicyOverwriteNoWBCheck is overwrite without the under-writeback
	// check, on the kernel's writeback that drops the lock during the I/O
	// (cache.IOUnlocked): a block can change while its write is in flight.
	PolicyOverwriteNoWBCheck
	// PolicyOverwriteNoRedirty is overwrite without putting a rewritten
	// block back into the transaction's dirty set.
	PolicyOverwriteNoRedirty
	numPolicies
)

// firstUnsafe is the first negative control.
const firstUnsafe = PolicyOverwriteNoWBCheck

var policyNames = [...]string{"always", "pin-search", "pin-handle", "overwrite", "overwrite+pin",
	"bounce", "overwrite-no-wb-check", "overwrite-no-redirty"}

// PolicyNames lists the safe policies' names, in Policy order.
func PolicyNames() []string { return policyNames[:firstUnsafe] }

// UnsafePolicyNames lists the negative controls' names.
func UnsafePolicyNames() []string { return policyNames[firstUnsafe:] }

// Policies lists the safe policies, for tests that run under each.
func Policies() []Policy {
	var ps []Policy
	for p := range firstUnsafe {
		ps = append(ps, p)
	}
	return ps
}

func (p Policy) valid() bool { return p >= 0 && p < numPolicies }

// Unsafe reports a negative control: a policy known to corrupt the image.
func (p Policy) Unsafe() bool { return p >= firstUnsafe && p < numPolicies }

func (p Policy) String() string {
	if !p.valid() {
		return fmt.Sprintf("policy-%d", int(p))
	}
	return policyNames[p]
}

// ParsePolicy accepts the names String prints, the unsafe ones included
// (callers decide whether to allow them: Unsafe).
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if s == n {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown COW policy %q (want one of %v)", ErrInvalidOptions, s, PolicyNames())
}

// WritebackIO is the cache writeback I/O mode the policy needs: a private
// copy for bounce, the kernel's unlocked I/O for the control that shows
// what the under-writeback check is for, the lock held across the I/O for
// the rest (writers wait for a block's write).
func (p Policy) WritebackIO() cache.WritebackIO {
	switch p {
	case PolicyBounce:
		return cache.IOBounce
	case PolicyOverwriteNoWBCheck:
		return cache.IOUnlocked
	}
	return cache.IOLocked
}

// overwrites reports a policy of the overwrite family.
func (p Policy) overwrites() bool { return p >= PolicyOverwrite && p < numPolicies }

// cowDecision is shouldCOW's answer. reCOW classifies a COW for the figures:
// a COW of a block created by the running transaction itself (docs/problem.md:
// the amplification loop COWs such blocks again after writeback set their
// WRITTEN flag). overwrite is a WRITTEN block rewritten in place instead.
type cowDecision struct {
	cow       bool
	reCOW     bool
	overwrite bool
}

// shouldCOW decides whether eb, a block of root about to be modified under
// trans, must be copied first. The caller holds eb's lock, so WRITTEN (set
// by writeback under the write lock) cannot change meanwhile.
func shouldCOW(trans Trans, root *Root, eb *cache.ExtentBuffer) cowDecision {
	h := eb.Header()
	own := h.Generation() == trans.Transid()
	if !own || root.ForceCOW.Load() {
		return cowDecision{cow: true, reCOW: own}
	}
	if !h.Written() {
		return cowDecision{}
	}
	if overwritable(root, eb) {
		return cowDecision{overwrite: true}
	}
	return cowDecision{cow: true, reCOW: true}
}

// overwritable reports whether the policy rewrites eb, a WRITTEN block of
// the running transaction, in place. Never after a failed write (its bytes
// exist only in memory), in a log tree (a WRITTEN log block may already be
// what a replay reads) or on a zoned device (no rewrite before a reset).
// Under writeback only with bounce (the I/O writes a copy) or the control
// that drops the check; with the lock held across the I/O (cache.IOLocked)
// a locked block is never under writeback, and the check matters on the
// kernel's unlocked writeback.
func overwritable(root *Root, eb *cache.ExtentBuffer) bool {
	p := root.env.Options.Policy
	if !p.overwrites() || eb.Has(cache.WriteErr) || root.IsLog() || root.env.Options.Zoned {
		return false
	}
	return !eb.Has(cache.Writeback) || p == PolicyBounce || p == PolicyOverwriteNoWBCheck
}

// redirty puts eb, a WRITTEN block the policy rewrites in place, back in
// the cache's dirty set and the transaction's — except under the control
// overwrite-no-redirty, which leaves it out of the transaction's. The
// first re-dirty after each write counts as an overwrite.
func (o *op) redirty(level int, eb *cache.ExtentBuffer) {
	if !eb.Has(cache.Dirty) {
		o.root.stats.overwrites[level].Add(1)
	}
	if o.root.env.Options.Policy == PolicyOverwriteNoRedirty {
		o.c.MarkDirty(eb, o.trans.Transid())
		return
	}
	o.dirty(eb)
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
	case PolicyOverwritePin:
		if o.root.IsLog() || o.root.env.Options.Zoned {
			o.trans.PinUntilEnd(nb)
		}
	}
}

// discardable reports whether a block being freed may be dropped without
// ever being written: the running transaction created it and no write of it
// has started. No committed root can point to such a block.
func discardable(trans Trans, eb *cache.ExtentBuffer) bool {
	h := eb.Header()
	return h.Generation() == trans.Transid() && !h.Written() && !eb.Has(cache.Writeback)
}
