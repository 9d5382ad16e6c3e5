package crash

import (
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cowfs/ctree"
	"cowfs/disk"
)

// saved is a recording as a reproducer keeps it.
type saved struct {
	Size             int64
	From             int
	Workload, Policy string
	Cut              CutOptions
	BtrfsCheckEvery  int
	Log              []disk.RecEntry
	Commits          []savedCommit
	Models           map[uint64]snapshot
	StateID          string
}

type savedCommit struct {
	Entry int
	Gen   uint64
}

// reproduce writes a failure's reproducer under cfg.Out: the crash image,
// the recording it was cut from (mkfs included), and state.txt with the
// state, the verdict and the command that rechecks it. It returns the
// directory, or "" when Out is unset or writing failed (said in the path).
func (c *stateChecker) reproduce(f Failure, d *device) string {
	if c.cfg.Out == "" {
		return ""
	}
	dir := filepath.Join(c.cfg.Out, fmt.Sprintf("%s-%s-%d", strings.ReplaceAll(c.res.Workload, "/", "_"), c.res.Policy, len(c.res.Failures)))
	if err := c.writeRepro(dir, f, d); err != nil {
		return fmt.Sprintf("%s (incomplete: %v)", dir, err)
	}
	return dir
}

func (c *stateChecker) writeRepro(dir string, f Failure, d *device) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeSparse(filepath.Join(dir, "crash.img"), d.im); err != nil {
		return err
	}
	if err := c.saveRecording(filepath.Join(dir, "recording.gob"), f.State.ID()); err != nil {
		return err
	}
	text := fmt.Sprintf("%s\nrecheck: cowfs crash --replay %s\n", f, dir)
	return os.WriteFile(filepath.Join(dir, "state.txt"), []byte(text), 0o644)
}

// saveRecording writes the recording, the models and the state's id.
func (c *stateChecker) saveRecording(path, id string) error {
	s := saved{Size: c.rec.size, From: c.rec.from, Workload: c.res.Workload, Policy: c.res.Policy, Cut: c.cfg.Cut, BtrfsCheckEvery: c.cfg.BtrfsCheckEvery,
		Log: c.rec.log, Models: c.rec.env.models, StateID: id}
	for _, cp := range c.rec.env.commits {
		s.Commits = append(s.Commits, savedCommit{cp.entry, cp.gen})
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	err = gob.NewEncoder(out).Encode(&s)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// Replay rebuilds the state a reproducer names from its recording and runs the oracles on it again; the failure, or nil when it
// now passes.
func Replay(dir string) (*Failure, error) {
	s, err := loadRepro(dir)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", dir, err)
	}
	p, err := ctree.ParsePolicy(s.Policy)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", dir, err)
	}
	env := &Env{models: s.Models}
	for _, cp := range s.Commits {
		env.commits = append(env.commits, commitPoint{cp.Entry, cp.Gen})
	}
	cfg := Config{Workload: Workload{Name: s.Workload}, Policy: p, Cut: s.Cut, BtrfsCheckEvery: s.BtrfsCheckEvery}
	return replayState(cfg, &recording{size: s.Size, from: s.From, log: s.Log, env: env}, s.StateID)
}

// replayState cuts the recording again and checks the one state id.
func replayState(cfg Config, r *recording, id string) (*Failure, error) {
	ck, err := newChecker(cfg, r)
	if err != nil {
		return nil, err
	}
	defer ck.close()
	found := false
	err = cut(r.size, r.log, r.from, cfg.Cut, func(st State, d *device) error {
		if found || st.ID() != id {
			return nil
		}
		found = true
		return ck.check(st, d)
	})
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, fmt.Errorf("replay: the recording has no state %s", id)
	case len(ck.res.Failures) > 0:
		return &ck.res.Failures[0], nil
	}
	return nil, nil
}

// loadRepro reads a reproducer's recording.
func loadRepro(dir string) (*saved, error) {
	in, err := os.Open(filepath.Join(dir, "recording.gob"))
	if err != nil {
		return nil, err
	}
	defer in.Close()
	var s saved
	if err := gob.NewDecoder(in).Decode(&s); err != nil {
		return nil, fmt.Errorf("recording.gob: %w", err)
	}
	return &s, nil
}
