package crash

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
)

// The summary adds the runs' states by level and verdict, prints the
// rate, the phases' shares and every failure with its reproducer.
func TestSummaryPrint(t *testing.T) {
	run := func(ok, model int) *Result {
		r := &Result{Duplicates: 1, Phases: map[string]time.Duration{"open": time.Second, "fsck": 3 * time.Second}}
		for l := range r.States {
			r.States[l] = map[string]int{}
		}
		r.States[L0][VerdictOK] = ok
		r.States[L2]["model"] = model
		for range model {
			r.Failures = append(r.Failures, Failure{State: State{Level: L2, Point: 7, Apply: []int{3}, Tear: -1}, Oracle: "model", Detail: "/x missing", Repro: "/tmp/r/0"})
		}
		return r
	}
	s := &Summary{Runs: []*Result{run(3, 0), run(4, 1)}, Elapsed: 2 * time.Second}
	var b strings.Builder
	s.Print(&b)
	out := b.String()
	require.Contains(t, out, "level  model  ok")
	require.Contains(t, out, "   L0      0   7")
	require.Contains(t, out, "   L2      1   0")
	require.Contains(t, out, "2 runs, 8 distinct states (2 duplicates skipped), 0 btrfs checks, 2s: 4.0 states/s")
	require.Contains(t, out, "time 8s: fsck 75%, open 25%")
	require.Contains(t, out, "FAIL state L2@7:[3]: model: /x missing (reproducer: /tmp/r/0)")
}

// Shards split a campaign's runs: together exactly the runs, none twice.
func TestShardsSplitRuns(t *testing.T) {
	c := Campaign{Workloads: Seq1()[:5], Policies: []ctree.Policy{ctree.PolicyAlways, ctree.PolicyPinSearch}}
	all := map[string]int{}
	for _, j := range c.jobs() {
		all[j.w.Name+" "+j.p.String()]++
	}
	require.Len(t, all, 10)
	c.Shards = 3
	got := map[string]int{}
	for c.Shard = 0; c.Shard < 3; c.Shard++ {
		for _, j := range c.jobs() {
			got[j.w.Name+" "+j.p.String()]++
		}
	}
	require.Equal(t, all, got)
}
