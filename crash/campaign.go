package crash

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"cowfs/ctree"
)

// Campaign is every workload under every policy, or one shard of that.
type Campaign struct {
	Workloads       []Workload
	Policies        []ctree.Policy
	Cut             CutOptions
	BtrfsCheckEvery int
	Out             string
	// MaxStates bounds the campaign's distinct states; 0 means no limit.
	MaxStates int
	// Shard of Shards: the campaign runs the (policy, workload) runs whose
	// index modulo Shards is Shard. Shards 0 or 1 runs them all.
	Shard, Shards int
	Progress      func()
}

// Summary is a campaign's results.
type Summary struct {
	Runs    []*Result
	Elapsed time.Duration
}

// Run runs the campaign's runs in order, within its state budget.
func (c Campaign) Run() (*Summary, error) {
	start := time.Now()
	s := &Summary{}
	k, left := 0, c.MaxStates
	for _, p := range c.Policies {
		for _, w := range c.Workloads {
			k++
			if c.Shards > 1 && (k-1)%c.Shards != c.Shard || c.MaxStates > 0 && left <= 0 {
				continue
			}
			res, err := Run(Config{Workload: w, Policy: p, Cut: c.Cut, BtrfsCheckEvery: c.BtrfsCheckEvery,
				Out: c.Out, MaxStates: left, Progress: c.Progress})
			if err != nil {
				return s, fmt.Errorf("%s under %s: %w", w.Name, p, err)
			}
			s.Runs = append(s.Runs, res)
			left -= res.Distinct()
		}
	}
	s.Elapsed = time.Since(start)
	return s, nil
}

// Failures lists every run's failures.
func (s *Summary) Failures() []Failure {
	var out []Failure
	for _, r := range s.Runs {
		out = append(out, r.Failures...)
	}
	return out
}

// totals adds the runs' counts: states by level and verdict, and the
// time of each phase.
func (s *Summary) totals() (states [NumLevels]map[string]int, phases map[string]time.Duration, distinct, dups, checks int) {
	phases = map[string]time.Duration{}
	for l := range states {
		states[l] = map[string]int{}
	}
	for _, r := range s.Runs {
		for l, m := range r.States {
			for v, n := range m {
				states[l][v] += n
			}
		}
		for p, d := range r.Phases {
			phases[p] += d
		}
		distinct, dups, checks = distinct+r.Distinct(), dups+r.Duplicates, checks+r.BtrfsChecks
	}
	return states, phases, distinct, dups, checks
}

// Print writes the summary table: states by level and verdict, the rate,
// where the time went, and each failure with its reproducer.
func (s *Summary) Print(w io.Writer) {
	states, phases, distinct, dups, checks := s.totals()
	verdicts := map[string]bool{VerdictOK: true}
	for _, m := range states {
		for v := range m {
			verdicts[v] = true
		}
	}
	cols := slices.Sorted(maps.Keys(verdicts))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "level\t%s\t\n", strings.Join(cols, "\t"))
	for l, m := range states {
		fmt.Fprintf(tw, "%s", Level(l))
		for _, v := range cols {
			fmt.Fprintf(tw, "\t%d", m[v])
		}
		fmt.Fprintln(tw, "\t")
	}
	tw.Flush()
	fmt.Fprintf(w, "%d runs, %d distinct states (%d duplicates skipped), %d btrfs checks, %v: %.1f states/s\n",
		len(s.Runs), distinct, dups, checks, s.Elapsed.Round(time.Millisecond), float64(distinct)/s.Elapsed.Seconds())
	printPhases(w, phases)
	for _, f := range s.Failures() {
		fmt.Fprintf(w, "FAIL %s (reproducer: %s)\n", f, f.Repro)
	}
}

// printPhases writes where the time went.
func printPhases(w io.Writer, phases map[string]time.Duration) {
	total := sumPhases(phases)
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(phases)) {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", p, 100*phases[p].Seconds()/max(total.Seconds(), 1e-9)))
	}
	fmt.Fprintf(w, "time %v: %s\n", total.Round(time.Millisecond), strings.Join(parts, ", "))
}
