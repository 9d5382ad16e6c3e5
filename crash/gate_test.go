package crash

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk/inject"
)

// gateWorkloads are the self-test's workloads: three seq-1 ones and a
// seed run short enough to stay cheap, whose reclaim writes blocks back
// inside the running transaction.
func gateWorkloads(t *testing.T) []Workload {
	var ws []Workload
	for _, n := range []string{"seq1/creat/fsync", "seq1/write-overwrite/sync", "seq1/unlink/sync"} {
		w, err := FindWorkloads(n)
		require.NoError(t, err)
		ws = append(ws, w...)
	}
	return append(ws, Seed())
}

// caught is what a campaign with one bug on found: failures per level
// (each run stops at its 20th) and the first failure at the lowest level
// that had one.
type caught struct {
	perLevel [NumLevels]int
	first    *Failure
}

func (c caught) String() string {
	if c.first == nil {
		return "not caught"
	}
	return fmt.Sprintf("%s by %s (failures per level %v): %s", c.first.State.Level, c.first.Oracle, c.perLevel, c.first.Detail)
}

// runGate runs the gate's workloads with bug b on and gathers what failed.
func runGate(t *testing.T, b inject.Bug) caught {
	restore := inject.Set(b)
	defer restore()
	var c caught
	cut := DefaultCutOptions()
	cut.Exhaustive, cut.Subsets, cut.Tears = 6, 16, 2
	cut = narrowForRace(t, cut)
	for _, w := range gateWorkloads(t) {
		res, err := Run(Config{Workload: w, Policy: ctree.PolicyAlways, Cut: cut, Out: t.TempDir(), MaxFailures: 20})
		if err != nil { // the bug broke the workload itself: caught while recording
			t.Logf("%s: %s: the workload failed: %v", b, w.Name, err)
			continue
		}
		for _, f := range res.Failures {
			c.perLevel[f.State.Level]++
			if c.first == nil || f.State.Level < c.first.State.Level {
				c.first = &f
			}
		}
	}
	return c
}

// The self-test gate: every injected bug is caught by some state's
// oracle, and the table says which level and oracle caught it first.
func TestSelfTestGate(t *testing.T) {
	var table strings.Builder
	for _, b := range inject.All() {
		c := runGate(t, b)
		fmt.Fprintf(&table, "| %s | %s |\n", b, c)
		require.NotNil(t, c.first, "bug %s was not caught", b)
	}
	t.Logf("the gate:\n%s", table.String())
}

// A failure's reproducer rebuilds the same state and fails the same
// oracle when replayed; the recording holds the bug's writes, so it fails
// with the bug off too.
func TestReproducerReplays(t *testing.T) {
	restore := inject.Set(inject.SuperBeforeTrees)
	defer restore()
	w, err := FindWorkloads("seq1/creat/fsync")
	require.NoError(t, err)
	res, err := Run(Config{Workload: w[0], Policy: ctree.PolicyAlways, Cut: DefaultCutOptions(), Out: t.TempDir()})
	require.NoError(t, err)
	require.NotEmpty(t, res.Failures)
	want := res.Failures[0]
	got, err := Replay(want.Repro)
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Equal(t, want.State.ID(), got.State.ID())
	require.Equal(t, want.Oracle, got.Oracle)
	restore()
	got, err = Replay(want.Repro)
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Equal(t, want.Oracle, got.Oracle)
}
