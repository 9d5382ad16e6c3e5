package crash

import (
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

// campaign checks every state of the workloads under every policy, with
// btrfs check on every new L0 state and every 50th other: no failure.
func campaign(t *testing.T, ws []Workload) {
	fscktest.NeedTools(t, "btrfs")
	start := time.Now()
	var distinct, dups, checks int
	for _, p := range policies(t) {
		for _, w := range ws {
			res, err := Run(Config{Workload: w, Policy: p, Cut: DefaultCutOptions(), BtrfsCheckEvery: 50, Out: t.TempDir()})
			require.NoError(t, err)
			require.Empty(t, res.Failures, "%s under %s", w.Name, p)
			require.Positive(t, res.States[L0][VerdictOK], "%s under %s", w.Name, p)
			distinct, dups, checks = distinct+res.Distinct(), dups+res.Duplicates, checks+res.BtrfsChecks
		}
	}
	el := time.Since(start)
	t.Logf("%d workloads x %d policies: %d distinct states (%d duplicates), %d btrfs checks, in %v: %.0f states/s",
		len(ws), len(policies(t)), distinct, dups, checks, el.Round(time.Millisecond), float64(distinct)/el.Seconds())
}

// Every seq-1 workload under every policy: every crash state opens, is
// fsck-clean and holds a committed model.
func TestSeq1Campaign(t *testing.T) { campaign(t, Seq1()) }

// The data-heavy workload under every policy.
func TestDataCampaign(t *testing.T) { campaign(t, []Workload{Data()}) }

// The seed scenario under every policy: reclaim writes blocks inside the
// running transaction.
func TestSeedCampaign(t *testing.T) { campaign(t, []Workload{Seed()}) }
