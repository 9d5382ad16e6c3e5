package transaction

import (
	"fmt"
	"strings"
)

// String renders the experiment's figures for people: the configuration,
// the create's outcome, its reservation use, the fs tree's COWs and
// restarts, the cache's writebacks, and the space dump.
func (res *SeedResult) String() string {
	var b strings.Builder
	c := res.Config
	fmt.Fprintf(&b, "seed experiment: %d files, cache %d nodes, policy %s, reservations %s, hold-reads-after %d\n",
		c.Files, c.BudgetNodes, c.Policy, c.Reservations, c.HoldReadsAfter)
	fmt.Fprintf(&b, "options: %s\n", res.Options)
	fmt.Fprintf(&b, "fs tree levels: %d\n", res.Levels)
	outcome := "completed"
	if res.CreateErr != nil {
		outcome = "FAILED: " + res.CreateErr.Error()
	}
	fmt.Fprintf(&b, "create: %s\n", outcome)
	h := res.Handle
	fmt.Fprintf(&b, "reservation: %d items, reserved %d, charged %d (%.2f of the reservation), overspent %d\n",
		h.NumItems, h.Reserved, h.Charged, ratio(h.Charged, h.Reserved), h.Overspent)
	if c.Reservations == Lenient {
		fmt.Fprintf(&b, "lenient: %s\n", res.lenientOutcome())
	}
	tr := res.Tree
	fmt.Fprintf(&b, "fs tree: searches %d, COWs by level %v, re-COWs by level %v, overwrites by level %v, max COWs in one search %d, restarts %v\n",
		tr.Searches, trimLevels(tr.COWs[:]), trimLevels(tr.ReCOWs[:]), trimLevels(tr.Overwrites[:]), tr.MaxSearchCOWs, tr.Restarts)
	fmt.Fprintf(&b, "cache: %s\n", res.Cache)
	fmt.Fprintf(&b, "metadata: %d of %d bytes free; aborted: %v\n", res.Meta.Free, res.Meta.Total, res.Aborted)
	b.WriteString(res.Dump)
	return b.String()
}

// lenientOutcome says what lenient reservations did in this run.
func (res *SeedResult) lenientOutcome() string {
	h := res.Handle
	switch {
	case h.Overspent == 0:
		return "the reservation held; nothing came from free space"
	case res.CreateErr == nil:
		return fmt.Sprintf("%d bytes beyond the reservation came from free space, and the create completed", h.Overspent)
	case res.Config.HoldReadsAfter < 0:
		return fmt.Sprintf("%d bytes beyond the reservation came from free space until metadata space ran out: with the kernel's unbounded restarts (hold-reads-after -1) nothing else ends the loop", h.Overspent)
	}
	return fmt.Sprintf("%d bytes beyond the reservation came from free space until metadata space ran out", h.Overspent)
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// trimLevels drops the unused top levels of a per-level counter.
func trimLevels(v []uint64) []uint64 {
	n := len(v)
	for n > 1 && v[n-1] == 0 {
		n--
	}
	return v[:n]
}
