package crash

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/fs"
	"cowfs/mkfs"
)

// DefaultImageSize holds the primary superblock and its first mirror (at
// 64 MiB).
const DefaultImageSize = 80 << 20

// Config is one campaign: a workload under a policy, cut at the levels.
type Config struct {
	Workload Workload
	Policy   ctree.Policy
	Cut      CutOptions
	// BtrfsCheck: btrfs check runs on every new L0 state and on every
	// BtrfsCheckEvery-th other new state; 0 never runs it.
	BtrfsCheckEvery int
	// Out receives the reproducer of each failure; "" writes none.
	Out       string
	ImageSize int64
	// MaxStates stops after this many distinct states, MaxFailures after
	// this many failures; 0 means no limit.
	MaxStates, MaxFailures int
	// Progress, if set, is called after each distinct state.
	Progress func()
}

// recording is a workload's run on a zeroed device of size bytes: what
// mkfs wrote (the first from entries), what the workload wrote, and the
// models of its commits.
type recording struct {
	size int64
	from int
	log  []disk.RecEntry
	env  *Env
}

// fsOptions are the options of the filesystem a workload runs on, and of
// the states' read-only opens (cacheNodes 0).
func fsOptions(p ctree.Policy, readOnly bool, cacheNodes int) fs.Options {
	o := fs.DefaultOptions()
	o.Transaction.CommitInterval = -1
	o.Transaction.Tree.Policy = p
	o.Transaction.ReadOnly = readOnly
	o.Transaction.Cache.Budget = 4 << 20
	if cacheNodes > 0 {
		o.Transaction.Cache.Budget = int64(cacheNodes) * int64(mkfs.DefaultOptions().NodeSize)
	}
	o.DirtyThreshold = 0
	o.Log = io.Discard
	return o
}

// record makes an image, runs the workload on it through the recorder and
// returns the recording.
func record(cfg Config) (*recording, error) {
	made, err := mkfsRecording(cfg.ImageSize)
	if err != nil {
		return nil, err
	}
	rec := disk.NewRecordDevice(sparseDevice(cfg.ImageSize))
	if err := rec.Preload(made); err != nil {
		return nil, err
	}
	r := &recording{size: cfg.ImageSize, from: rec.Len()}
	f, err := fs.OpenDevice(rec, fsOptions(cfg.Policy, false, cfg.Workload.CacheNodes))
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	r.env = &Env{FS: f, rec: rec, models: map[uint64]snapshot{}}
	err = r.env.record()
	if err == nil {
		err = cfg.Workload.Run(r.env)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	r.log = rec.Entries()
	if err != nil {
		return nil, fmt.Errorf("workload %s: %w", cfg.Workload.Name, err)
	}
	return r, nil
}

// mkfsRecordings are mkfs's recordings by image size, made once per
// process: every run starts from the same image (its UUIDs included).
var mkfsRecordings struct {
	sync.Mutex
	bySize map[int64][]disk.RecEntry
}

// mkfsRecording returns the recording of mkfs on a zeroed device of size
// bytes.
func mkfsRecording(size int64) ([]disk.RecEntry, error) {
	m := &mkfsRecordings
	m.Lock()
	defer m.Unlock()
	if log, ok := m.bySize[size]; ok {
		return log, nil
	}
	rec := disk.NewRecordDevice(sparseDevice(size))
	if _, err := mkfs.Make(rec, mkfs.DefaultOptions()); err != nil {
		return nil, fmt.Errorf("mkfs: %w", err)
	}
	if m.bySize == nil {
		m.bySize = map[int64][]disk.RecEntry{}
	}
	m.bySize[size] = rec.Entries()
	return m.bySize[size], nil
}

// Run records the workload and checks every distinct crash state of it.
func Run(cfg Config) (*Result, error) {
	if cfg.ImageSize == 0 {
		cfg.ImageSize = DefaultImageSize
	}
	start := time.Now()
	r, err := record(cfg)
	if err != nil {
		return nil, err
	}
	ck, err := newChecker(cfg, r)
	if err != nil {
		return nil, err
	}
	defer ck.close()
	ck.res.Phases["record"] = time.Since(start)
	err = cut(r.size, r.log, r.from, cfg.Cut, ck.check)
	ck.res.Elapsed = time.Since(start)
	ck.res.Phases["build+dedup"] = ck.res.Elapsed - sumPhases(ck.res.Phases)
	if errors.Is(err, errBudget) {
		err = nil
	}
	return &ck.res, err
}

// sumPhases is the time of every phase.
func sumPhases(phases map[string]time.Duration) time.Duration {
	var t time.Duration
	for _, d := range phases {
		t += d
	}
	return t
}
