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
}

type savedCommit struct {
	Entry int
	Gen   uint64
}

// maxRepros bounds the reproducers one run writes: a broken protocol
// fails thousands of states, and the first few tell the story.
const maxRepros = 3

// reproduce writes a failure's reproducer under cfg.Out: the run's
// recording (mkfs included) once, in the run's directory, and for the
// failure a subdirectory with the crash image and state.txt, the state
// and the command that rechecks it. It returns the subdirectory, or ""
// when Out is unset or the run has written maxRepros already.
func (c *stateChecker) reproduce(f Failure, d *device) string {
	if c.cfg.Out == "" || len(c.res.Failures) >= maxRepros {
		return ""
	}
	run := filepath.Join(c.cfg.Out, strings.ReplaceAll(c.res.Workload, "/", "_")+"-"+c.res.Policy)
	dir := filepath.Join(run, fmt.Sprint(len(c.res.Failures)))
	if err := c.writeRepro(run, dir, f, d); err != nil {
		return fmt.Sprintf("%s (incomplete: %v)", dir, err)
	}
	return dir
}

func (c *stateChecker) writeRepro(run, dir string, f Failure, d *device) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if len(c.res.Failures) == 0 {
		if err := c.saveRecording(filepath.Join(run, "recording.gob")); err != nil {
			return err
		}
	}
	if err := writeSparse(filepath.Join(dir, "crash.img"), d.im); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "state.id"), []byte(f.State.ID()), 0o644); err != nil {
		return err
	}
	text := fmt.Sprintf("%s\nrecheck: cowfs crash --replay %s\n", f, dir)
	return os.WriteFile(filepath.Join(dir, "state.txt"), []byte(text), 0o644)
}

// saveRecording writes the recording and the models.
func (c *stateChecker) saveRecording(path string) error {
	s := saved{Size: c.rec.size, From: c.rec.from, Workload: c.res.Workload, Policy: c.res.Policy, Cut: c.cfg.Cut,
		BtrfsCheckEvery: c.cfg.BtrfsCheckEvery, Log: c.rec.log, Models: c.rec.env.models}
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

// Replay rebuilds the state a reproducer directory names (state.id) from
// its run's recording (../recording.gob) and runs the oracles on it again; the failure, or nil when it
// now passes.
func Replay(dir string) (*Failure, error) {
	s, err := loadRepro(filepath.Dir(filepath.Clean(dir)))
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", dir, err)
	}
	id, err := os.ReadFile(filepath.Join(dir, "state.id"))
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
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
	return replayState(cfg, &recording{size: s.Size, from: s.From, log: s.Log, env: env}, string(id))
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
