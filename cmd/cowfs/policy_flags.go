package main

import (
	"fmt"
	"io"
	"strings"

	"cowfs/cache"
	"cowfs/ctree"
)

// policyMeaning explains each COW policy in a flag's help.
var policyMeaning = map[string]string{
	"always":        "today's kernel",
	"pin-search":    "a search pins the blocks it COWs until it returns: the seed's patch",
	"pin-handle":    "pins held until the transaction handle ends",
	"overwrite":     "a written block of the running transaction is rewritten in place; writers wait for its writeback",
	"overwrite+pin": "overwrite, pin-handle for log trees and zoned devices",
	"bounce":        "overwrite, with writeback writing a private copy: no writer waits",
	// the negative controls
	"overwrite-no-wb-check": "overwrite without the under-writeback check, on the kernel's unlocked writeback: tears blocks",
	"overwrite-no-redirty":  "overwrite without re-adding the block to the transaction's dirty set",
}

// policyUsage is the help of a COW-policy flag: every value, and what it
// means; the negative controls need --unsafe-policy.
func policyUsage() string {
	return "COW policy: " + meanings(ctree.PolicyNames()) +
		"; negative controls, known to corrupt images, only with --unsafe-policy: " + meanings(ctree.UnsafePolicyNames())
}

func meanings(names []string) string {
	var vals []string
	for _, n := range names {
		vals = append(vals, fmt.Sprintf("%s (%s)", n, policyMeaning[n]))
	}
	return strings.Join(vals, ", ")
}

// unsafePolicyUsage is the help of --unsafe-policy.
const unsafePolicyUsage = "allow a negative-control COW policy (overwrite-no-wb-check, overwrite-no-redirty): for testing the checkers only, it corrupts the image"

// parsePolicy parses a COW-policy flag's value. A negative control is a
// usage error without --unsafe-policy, and a warning on warn with it.
func parsePolicy(flag, v string, unsafe bool, warn io.Writer) (ctree.Policy, error) {
	p, err := ctree.ParsePolicy(v)
	switch {
	case err != nil:
		return p, usageError{fmt.Errorf("%s: %w", flag, err)}
	case p.Unsafe() && !unsafe:
		return p, usagef("%s %s is a negative control that corrupts images: add --unsafe-policy to run it anyway", flag, p)
	case p.Unsafe():
		fmt.Fprintf(warn, "cowfs: WARNING: COW policy %s is a known-unsafe negative control (%s): the image may be corrupted\n",
			p, policyMeaning[p.String()])
	}
	return p, nil
}

// orderUsage is the help of a --writeback-order flag.
const orderUsage = "order in which reclaim and the flusher write dirty blocks: address (lowest first, today's kernel) or lru (least recently dirtied first, Qu's proposal)"

// parseOrder parses a --writeback-order value.
func parseOrder(v string) (cache.WritebackOrder, error) {
	o, err := cache.ParseOrder(v)
	if err != nil {
		return o, usageError{fmt.Errorf("--writeback-order: %w", err)}
	}
	return o, nil
}

// reservationsUsage is the help of a --reservations flag.
const reservationsUsage = "what a handle that overspends its reservation gets: strict (ENOSPC, transaction abort, read-only: the kernel) or lenient (the nodes come from free space; counted as overspent)"
