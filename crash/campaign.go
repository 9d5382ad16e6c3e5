package crash

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
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
	// Jobs is how many runs go at once (their states are checked in
	// parallel); 0 or 1 runs them one by one. Progress must then be safe
	// for concurrent calls.
	Jobs     int
	Progress func()
}

// Summary is a campaign's results.
type Summary struct {
	Runs    []*Result
	Elapsed time.Duration
}

// job is one run of a campaign: a workload under a policy.
type job struct {
	w Workload
	p ctree.Policy
}

// jobs lists the campaign's runs in order, this shard's only.
func (c Campaign) jobs() []job {
	var out []job
	k := 0
	for _, p := range c.Policies {
		for _, w := range c.Workloads {
			if c.Shards <= 1 || k%c.Shards == c.Shard {
				out = append(out, job{w, p})
			}
			k++
		}
	}
	return out
}

// Run runs the campaign's runs, Jobs at a time (one at a time under a
// state budget, which the runs spend in order); Runs keeps their order.
func (c Campaign) Run() (*Summary, error) {
	start := time.Now()
	var s *Summary
	var err error
	if c.MaxStates > 0 {
		s, err = c.runBudgeted()
	} else {
		s, err = c.runParallel(max(1, c.Jobs))
	}
	s.Elapsed = time.Since(start)
	return s, err
}

// runBudgeted runs the jobs one by one until MaxStates states are checked.
func (c Campaign) runBudgeted() (*Summary, error) {
	s, left := &Summary{}, c.MaxStates
	for _, j := range c.jobs() {
		if left <= 0 {
			break
		}
		res, err := c.runOne(j, left)
		if err != nil {
			return s, err
		}
		s.Runs = append(s.Runs, res)
		left -= res.Distinct()
	}
	return s, nil
}

// runParallel runs the jobs on n workers.
func (c Campaign) runParallel(n int) (*Summary, error) {
	jobs := c.jobs()
	runs, errs := make([]*Result, len(jobs)), make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for i := range next {
				runs[i], errs[i] = c.runOne(jobs[i], 0)
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	runs = slices.DeleteFunc(runs, func(r *Result) bool { return r == nil })
	return &Summary{Runs: runs}, errors.Join(errs...)
}

// runOne runs one job within a budget of states (0: none).
func (c Campaign) runOne(j job, budget int) (*Result, error) {
	res, err := Run(Config{Workload: j.w, Policy: j.p, Cut: c.Cut, BtrfsCheckEvery: c.BtrfsCheckEvery,
		Out: c.Out, MaxStates: budget, Progress: c.Progress})
	if err != nil {
		return nil, fmt.Errorf("%s under %s: %w", j.w.Name, j.p, err)
	}
	return res, nil
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
