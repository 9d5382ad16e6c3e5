package main

import (
	"fmt"
	"strings"

	"cowfs/ctree"
)

// policyMeaning explains each COW policy in a flag's help.
var policyMeaning = map[string]string{
	"always":     "today's kernel",
	"pin-search": "a search pins the blocks it COWs until it returns: the seed's patch",
	"pin-handle": "pins held until the transaction handle ends",
}

// policyUsage is the help of a COW-policy flag: every value, and what it
// means.
func policyUsage() string {
	var vals []string
	for _, n := range ctree.PolicyNames() {
		vals = append(vals, fmt.Sprintf("%s (%s)", n, policyMeaning[n]))
	}
	return "COW policy: " + strings.Join(vals, ", ")
}

// reservationsUsage is the help of a --reservations flag.
const reservationsUsage = "what a handle that overspends its reservation gets: strict (ENOSPC, transaction abort, read-only: the kernel) or lenient (the nodes come from free space; counted as overspent)"
