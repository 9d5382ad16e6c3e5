package crash

import (
	"errors"
	"fmt"
	"os"
	"time"

	"cowfs/disk"
	"cowfs/fs"
	"cowfs/fsck"
)

// Verdicts of a state, beside failures.
const (
	VerdictOK         = "ok"         // every oracle passed
	VerdictUnmodelled = "unmodelled" // opened and fsck-clean at a generation no persistence point recorded
)

// Result counts a campaign's states.
type Result struct {
	Workload, Policy string
	// States counts the distinct states checked, by level and verdict
	// (VerdictOK, VerdictUnmodelled or the failed oracle's name).
	States      [NumLevels]map[string]int
	Duplicates  int // states whose content an earlier state had
	BtrfsChecks int
	Failures    []Failure
	Elapsed     time.Duration
	// Phases is where the time went: record (mkfs and the workload),
	// build+dedup (cutting the states, their overlays and digests), and
	// each oracle's share (open, fsck, model, close, btrfs-check).
	Phases map[string]time.Duration
}

// Failure is a state an oracle refused.
type Failure struct {
	State  State
	Oracle string
	Detail string
	Repro  string // the reproducer's directory, if one was written
}

func (f Failure) String() string {
	return fmt.Sprintf("state %s: %s: %s", f.State.ID(), f.Oracle, f.Detail)
}

// Distinct is the number of distinct states checked.
func (r *Result) Distinct() int {
	n := 0
	for _, m := range r.States {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// stateChecker runs the oracles on each state of one recording.
type stateChecker struct {
	cfg  Config
	rec  *recording
	seen map[uint64]bool
	n    int    // new states so far
	tmp  string // where btrfs check's images and reproducers are staged
	res  Result
}

func newChecker(cfg Config, r *recording) (*stateChecker, error) {
	tmp, err := os.MkdirTemp("", "cowfs-crash-")
	if err != nil {
		return nil, err
	}
	c := &stateChecker{cfg: cfg, rec: r, seen: map[uint64]bool{}, tmp: tmp}
	c.res.Workload, c.res.Policy = cfg.Workload.Name, cfg.Policy.String()
	c.res.Phases = map[string]time.Duration{}
	for l := range c.res.States {
		c.res.States[l] = map[string]int{}
	}
	return c, nil
}

// close removes the staging directory.
func (c *stateChecker) close() { os.RemoveAll(c.tmp) }

// errBudget ends a cut when Config.MaxStates states were checked or
// Config.MaxFailures failed.
var errBudget = errors.New("state budget reached")

// check runs the oracles on a new state and counts its verdict.
func (c *stateChecker) check(s State, d *device) error {
	if c.cfg.MaxStates > 0 && c.n >= c.cfg.MaxStates || c.cfg.MaxFailures > 0 && len(c.res.Failures) >= c.cfg.MaxFailures {
		return errBudget
	}
	if c.seen[d.im.digest] {
		c.res.Duplicates++
		return nil
	}
	c.seen[d.im.digest] = true
	c.n++
	verdict, f := c.oracles(s, d)
	if f != nil {
		f.Repro = c.reproduce(*f, d)
		c.res.Failures = append(c.res.Failures, *f)
		verdict = f.Oracle
	}
	c.res.States[s.Level][verdict]++
	if c.cfg.Progress != nil {
		c.cfg.Progress()
	}
	return nil
}

// oracles judges a state, in order: it opens; our fsck is clean; it holds
// a committed generation no older than the last persistence point, with
// exactly the model's contents; btrfs check (sampled) is clean. It
// returns the verdict, or the first oracle that failed.
func (c *stateChecker) oracles(s State, d *device) (string, *Failure) {
	fail := func(oracle, detail string) (string, *Failure) {
		return "", &Failure{State: s, Oracle: oracle, Detail: detail}
	}
	lap := c.stopwatch()
	f, err := fs.OpenDevice(d, fsOptions(c.cfg.Policy, true, 0))
	lap("open")
	if err != nil {
		return fail("open", err.Error())
	}
	defer func() { f.Close(); lap("close") }()
	detail := fsckDetail(d, c.tornSuper(s))
	lap("fsck")
	if detail != "" {
		return fail("fsck", detail)
	}
	verdict, oracle, detail := c.contents(s, f)
	lap("model")
	if oracle != "" {
		return fail(oracle, detail)
	}
	detail = c.btrfsCheck(s, d)
	lap("btrfs-check")
	if detail != "" {
		return fail("btrfs-check", detail)
	}
	return verdict, nil
}

// fsckDetail runs our fsck: "" when clean, else its first finding. A
// superblock copy the state tore (torn >= 0, its offset) is expected to be
// refused, and its problems are not findings.
func fsckDetail(d *device, torn int64) string {
	rep, err := fsck.Check(d, fsck.Options{CheckDataCsum: true})
	if err != nil {
		return err.Error()
	}
	for _, p := range rep.Problems {
		if !(torn >= 0 && p.Block == uint64(torn) && (p.Kind == fsck.KindRead || p.Kind == fsck.KindSuper)) {
			return p.Message
		}
	}
	return ""
}

// contents compares the opened state with the model of its generation:
// the verdict, or the failed oracle and why.
func (c *stateChecker) contents(s State, f *fs.FS) (verdict, oracle, detail string) {
	gen := f.Transaction().Super().Generation
	if min := c.rec.env.minGen(s.Point); gen < min {
		return "", "durability", fmt.Sprintf("generation %d, but generation %d was committed before the crash", gen, min)
	}
	want, ok := c.rec.env.models[gen]
	if !ok {
		return VerdictUnmodelled, "", ""
	}
	got, err := takeSnapshot(f)
	if err != nil {
		return "", "model", err.Error()
	}
	if d := diff(want, got); d != "" {
		return "", "model", fmt.Sprintf("generation %d: %s", gen, d)
	}
	return VerdictOK, "", ""
}

// tornSuper is the offset of the superblock copy s tears, or -1.
func (c *stateChecker) tornSuper(s State) int64 {
	if s.Tear < 0 || c.rec.log[s.Tear].Kind != disk.KindSuper {
		return -1
	}
	return c.rec.log[s.Tear].Off
}

// stopwatch returns lap, which adds the time since the previous lap (or
// the stopwatch's start) to a phase.
func (c *stateChecker) stopwatch() func(phase string) {
	t := time.Now()
	return func(phase string) {
		now := time.Now()
		c.res.Phases[phase] += now.Sub(t)
		t = now
	}
}
