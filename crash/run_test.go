package crash

import (
	"flag"
	"strings"
	"testing"

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

// forRace keeps, under the race detector, the L0 and L1 levels only: the
// campaigns' full cuts run without it (go test -run Campaign ./crash/).
func forRace(t *testing.T, cut CutOptions) CutOptions {
	if raceOn {
		cut.Levels = [NumLevels]bool{L0: true, L1: true}
		t.Logf("race detector on: campaign levels L0-L1 only")
	}
	return cut
}

// campaign checks every state of the workloads under every policy, two
// runs at a time, with btrfs check on every new L0 state and every 50th
// other: no failure.
func campaign(t *testing.T, ws []Workload, cut CutOptions) {
	fscktest.NeedTools(t, "btrfs")
	cut = forRace(t, narrowForRace(t, cut))
	cut.Seed = *seedFlag
	for _, c := range matrix(t, ws) {
		c.Cut, c.BtrfsCheckEvery, c.Out, c.Jobs = cut, 50, t.TempDir(), 2
		runCampaign(t, c)
	}
}

// matrix is every workload under every policy; under the race detector a
// list of workloads is dealt out over the policies instead (each workload
// under one policy, every policy gets its share), which keeps the package
// within the CI budget. Without it: go test -run Campaign ./crash/.
func matrix(t *testing.T, ws []Workload) []Campaign {
	ps := policies(t)
	if !raceOn || len(ws) <= len(ps) {
		return []Campaign{{Workloads: ws, Policies: ps}}
	}
	t.Logf("race detector on: each workload under one policy, dealt out in turn")
	cs := make([]Campaign, len(ps))
	for i, w := range ws {
		c := &cs[i%len(ps)]
		c.Workloads, c.Policies = append(c.Workloads, w), ps[i%len(ps):i%len(ps)+1]
	}
	return cs
}

func runCampaign(t *testing.T, c Campaign) {
	s, err := c.Run()
	require.NoError(t, err)
	require.Len(t, s.Runs, len(c.Workloads)*len(c.Policies))
	for _, r := range s.Runs {
		require.Empty(t, r.Failures, "%s under %s", r.Workload, r.Policy)
		require.Positive(t, r.States[L0][VerdictOK], "%s under %s", r.Workload, r.Policy)
	}
	var out strings.Builder
	s.Print(&out)
	t.Logf("%d workloads x %d policies, cut %+v:\n%s", len(c.Workloads), len(c.Policies), c.Cut, out.String())
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
