package main

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"cowfs/crash"
	"cowfs/ctree"
)

// crashFlags are cowfs crash's flags.
type crashFlags struct {
	workload, policy, levels, shard, out, replay string
	states, btrfsEvery, jobs                     int
	seed                                         uint64
	noProgress                                   bool
}

func newCrashCmd() *cobra.Command {
	var f crashFlags
	cmd := &cobra.Command{
		Use:   "crash",
		Short: "crash-test cowfs: record workloads, build every crash state, check each",
		Long: `crash runs each workload on an in-memory image through a recorder of every
write, flush and FUA write (dm-log-writes semantics), cuts the recording into
crash states (L0 every flush, FUA and mark; L1 prefixes, L2 subsets, L3
sector-granular torn writes of the writes in flight), and checks every
distinct state: it opens, our fsck is clean, it holds the generation of the
last persistence point or a later one with exactly the contents recorded
when that generation committed, and btrfs check (sampled) is clean. A
failure writes a reproducer to --out; --replay DIR rechecks it.
docs/crash.md explains the model, the levels and the oracles.

Exit status: 0 every state passed, 1 a state failed (or the campaign could
not run), 2 bad usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCrash(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.workload, "workload", "all", "all, seq1, seq1/OP/fsync|sync, data or seed")
	fl.StringVar(&f.policy, "policy", "all", "all (every one), or one "+policyUsage())
	fl.StringVar(&f.levels, "levels", "L0-L3", "levels: a range (L0-L2) or a list (L0,L3)")
	fl.IntVar(&f.states, "states", 0, "stop after this many distinct states (0: every one)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the sampled subsets and tears")
	fl.StringVar(&f.shard, "shard", "", "run shard i of n (i/n, 0-based) of the campaign's runs")
	fl.StringVar(&f.out, "out", "", "directory for failures' reproducers")
	fl.IntVar(&f.btrfsEvery, "btrfs-check-every", 50, "btrfs check every new L0 state and every Nth other (0: never)")
	fl.StringVar(&f.replay, "replay", "", "recheck the state of a reproducer directory and exit")
	fl.IntVar(&f.jobs, "jobs", runtime.NumCPU(), "runs checked at once (without --states; with it, one)")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	return cmd
}

func runCrash(cmd *cobra.Command, f crashFlags) error {
	if f.replay != "" {
		return replayCrash(cmd.OutOrStdout(), f.replay)
	}
	c, err := f.campaign()
	if err != nil {
		return usageError{err}
	}
	if !f.noProgress {
		bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
			progressbar.OptionSetDescription("crash states"), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("states"), progressbar.OptionThrottle(200_000_000))
		c.Progress = func() { bar.Add(1) }
		defer fmt.Fprintln(cmd.ErrOrStderr())
	}
	s, err := c.Run()
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "seed %d, levels %s\n", f.seed, f.levels)
	s.Print(cmd.OutOrStdout())
	if len(s.Failures()) > 0 {
		return exitCode(1)
	}
	return nil
}

// replayCrash rechecks a reproducer: exit 1 while it still fails.
func replayCrash(w io.Writer, dir string) error {
	fail, err := crash.Replay(dir)
	if err != nil {
		return err
	}
	if fail == nil {
		fmt.Fprintf(w, "%s: the state passes every oracle now\n", dir)
		return nil
	}
	fmt.Fprintf(w, "FAIL %s\n", fail)
	return exitCode(1)
}

// campaign builds the campaign the flags describe.
func (f crashFlags) campaign() (crash.Campaign, error) {
	c := crash.Campaign{Cut: crash.DefaultCutOptions(), BtrfsCheckEvery: f.btrfsEvery, Out: f.out, MaxStates: f.states, Jobs: f.jobs}
	c.Cut.Seed = f.seed
	var err error
	if c.Workloads, err = crash.FindWorkloads(f.workload); err != nil {
		return c, fmt.Errorf("--workload: %w", err)
	}
	if c.Policies, err = parsePolicies(f.policy); err != nil {
		return c, fmt.Errorf("--policy: %w", err)
	}
	if c.Cut.Levels, err = parseLevels(f.levels); err != nil {
		return c, fmt.Errorf("--levels %q: %w", f.levels, err)
	}
	if c.Shard, c.Shards, err = parseShard(f.shard); err != nil {
		return c, fmt.Errorf("--shard %q: %w", f.shard, err)
	}
	if f.states < 0 || f.btrfsEvery < 0 || f.jobs < 1 {
		return c, fmt.Errorf("--states and --btrfs-check-every must be >= 0, --jobs >= 1")
	}
	return c, nil
}

// parsePolicies accepts "all" or one policy's name.
func parsePolicies(s string) ([]ctree.Policy, error) {
	names := []string{s}
	if s == "all" {
		names = ctree.PolicyNames()
	}
	var out []ctree.Policy
	for _, n := range names {
		p, err := ctree.ParsePolicy(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parseLevels accepts L0-L3 style ranges and L0,L2 style lists.
func parseLevels(s string) ([crash.NumLevels]bool, error) {
	var on [crash.NumLevels]bool
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := parseLevel(lo)
		b, err2 := parseLevel(hi)
		if err1 != nil || err2 != nil || a > b {
			return on, fmt.Errorf("want levels L0 to L%d, as L0-L3 or L0,L2", crash.NumLevels-1)
		}
		for l := a; l <= b; l++ {
			on[l] = true
		}
	}
	return on, nil
}

func parseLevel(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(s), "L"))
	if err != nil || n < 0 || n >= int(crash.NumLevels) || !strings.HasPrefix(strings.TrimSpace(s), "L") {
		return 0, fmt.Errorf("bad level %q", s)
	}
	return n, nil
}

// parseShard accepts "" (no sharding) or i/n with 0 <= i < n.
func parseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("want i/n with 0 <= i < n")
	}
	return i, n, nil
}
