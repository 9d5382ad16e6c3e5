package crash

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/fsck/fscktest"
)

// policies is every COW policy.
func policies(t *testing.T) []ctree.Policy {
	var out []ctree.Policy
	for _, n := range ctree.PolicyNames() {
		p, err := ctree.ParsePolicy(n)
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

var seedFlag = flag.Uint64("crash.seed", 0, "seed of the campaigns' sampled subsets and tears (printed in each campaign's log)")

// narrowForRace narrows a cut under the race detector (subsets exhaustive
// to 2^4, 4 sampled beyond, one tear a write) and says so; the cut is
// unchanged without it.
func narrowForRace(t *testing.T, cut CutOptions) CutOptions {
	if raceOn {
		cut.Exhaustive, cut.Subsets, cut.Tears = min(cut.Exhaustive, 4), min(cut.Subsets, 4), 1
		t.Logf("race detector on: cut narrowed to %+v", cut)
	}
	return cut
}

// campaign checks every state of the workloads under every policy, with
// btrfs check on every new L0 state and every 50th other: no failure.
func campaign(t *testing.T, ws []Workload, cut CutOptions) {
	fscktest.NeedTools(t, "btrfs")
	cut = narrowForRace(t, cut)
	cut.Seed = *seedFlag
	start := time.Now()
	var distinct, dups, checks int
	for _, p := range policies(t) {
		for _, w := range ws {
			res, err := Run(Config{Workload: w, Policy: p, Cut: cut, BtrfsCheckEvery: 50, Out: t.TempDir()})
			require.NoError(t, err)
			require.Empty(t, res.Failures, "%s under %s", w.Name, p)
			require.Positive(t, res.States[L0][VerdictOK], "%s under %s", w.Name, p)
			distinct, dups, checks = distinct+res.Distinct(), dups+res.Duplicates, checks+res.BtrfsChecks
		}
	}
	el := time.Since(start)
	t.Logf("%d workloads x %d policies, cut %+v: %d distinct states (%d duplicates), %d btrfs checks, in %v: %.0f states/s",
		len(ws), len(policies(t)), cut, distinct, dups, checks, el.Round(time.Millisecond), float64(distinct)/el.Seconds())
}

// Every seq-1 workload under every policy: every crash state opens, is
// fsck-clean and holds a committed model.
func TestSeq1Campaign(t *testing.T) { campaign(t, Seq1(), DefaultCutOptions()) }

// The data-heavy workload under every policy.
func TestDataCampaign(t *testing.T) { campaign(t, []Workload{Data()}, DefaultCutOptions()) }

// The seed scenario under every policy: reclaim writes blocks inside the
// running transaction. Its commits have many writes in flight, so the cut
// is narrower than the default (subsets exhaustive up to 2^6, 16 sampled
// beyond, 2 tears per write) to keep the test near a minute.
func TestSeedCampaign(t *testing.T) {
	cut := DefaultCutOptions()
	cut.Exhaustive, cut.Subsets, cut.Tears = 6, 16, 2
	campaign(t, []Workload{Seed()}, cut)
}
