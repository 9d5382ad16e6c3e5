package transaction

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
)

// SeedConfig configures the seed's experiment (docs/problem.md): a directory of
// Files empty files is committed, then the filesystem is reopened under
// memory pressure — a cache of BudgetNodes nodes, of which the open trees'
// root blocks hold eight, and no flusher — and one more file is created.
type SeedConfig struct {
	Files        int
	BudgetNodes  int
	Policy       ctree.Policy
	Order        cache.WritebackOrder // reclaim's writeback order
	Reservations Reservations
	// HoldReadsAfter: ctree's progress guarantee; -1 (the default here) is
	// the kernel's behaviour, in which a search can loop.
	HoldReadsAfter int
}

// DefaultSeedConfig reproduces the seed on a 4 KiB-node image: 1,221
// files give a 3-level fs tree; 10 nodes leave two for the walk.
func DefaultSeedConfig() SeedConfig {
	return SeedConfig{Files: 1221, BudgetNodes: 9, Policy: ctree.PolicyAlways, Reservations: Strict, HoldReadsAfter: -1}
}

// SeedResult is what the experiment measured.
type SeedResult struct {
	Config    SeedConfig
	Options   Options     // the options of the pressured open
	CreateErr error       // the pressured create's error (nil: it completed)
	Handle    HandleStats // the create's reservation and charges
	Tree      ctree.Stats // the fs tree's figures during the create
	Cache     cache.Stats
	FS        Stats
	Aborted   bool
	Dump      string // the space dump printed at the abort (or taken after the create)
	Log       string // everything the filesystem printed
	Meta      metaSpace
	Levels    int // fs tree height
}

type metaSpace struct{ Total, Free uint64 }

// RunSeed runs the experiment on dev, which must hold a fresh filesystem
// (cowfs mkfs). The pressured create's failure is a result, not an error;
// the error reports the experiment itself failing.
func RunSeed(dev disk.Device, cfg SeedConfig) (*SeedResult, error) {
	if err := populate(dev, cfg.Files); err != nil {
		return nil, fmt.Errorf("seed: populate: %w", err)
	}
	fs, err := Open(dev, seedOptions(dev, cfg))
	if err != nil {
		return nil, fmt.Errorf("seed: reopen under pressure: %w", err)
	}
	var log bytes.Buffer
	fs.SetLog(&log)
	res := &SeedResult{Config: cfg, Options: fs.Options()}
	root, _ := fs.Tree(format.FSTreeObjectID)
	res.Levels = root.Level() + 1
	before := root.Stats()
	h, err := fs.Start(CreateItems)
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("seed: start the create: %w", err)
	}
	name := fmt.Sprintf("file-%08d", cfg.Files)
	res.CreateErr = createFile(h, root, format.FirstFreeObjectID, format.FirstFreeObjectID+1+uint64(cfg.Files), 2+uint64(cfg.Files), name)
	res.Handle = h.Stats()
	h.End()
	res.Tree = root.Stats().Sub(before)
	res.finish(fs, &log)
	if cerr := fs.Close(); cerr != nil && !res.Aborted {
		return res, fmt.Errorf("seed: close: %w", cerr)
	}
	return res, nil
}

func (res *SeedResult) finish(fs *FS, log *bytes.Buffer) {
	res.Aborted = fs.Aborted() != nil
	res.Cache = fs.Cache().Stats()
	res.FS = fs.Stats()
	si := fs.Alloc().Space(format.BlockGroupMetadata)
	res.Meta = metaSpace{Total: si.Total, Free: si.Free()}
	res.Log = log.String()
	if !res.Aborted {
		res.Dump = fs.DumpSpace(nil)
		return
	}
	if i := bytes.Index(log.Bytes(), []byte("dumping space info:")); i >= 0 {
		res.Dump = log.String()[i:]
	}
}

// seedOptions: the pressured open.
func seedOptions(dev disk.Device, cfg SeedConfig) Options {
	o := DefaultOptions()
	o.CommitInterval = -1
	o.Tree.Policy, o.Tree.HoldReadsAfter = cfg.Policy, cfg.HoldReadsAfter
	o.Reservations = cfg.Reservations
	o.Cache.Order = cfg.Order
	sb, err := checker.ReadSuper(dev)
	ns := int64(16384)
	if err == nil {
		ns = int64(sb.NodeSize)
	}
	o.Cache.Budget = int64(cfg.BudgetNodes) * ns
	o.Cache.DirtyThreshold = math.MaxInt64
	o.Cache.FlushInterval = 0
	return o
}

// populate creates n empty files in the root directory, 100 per handle,
// and commits.
func populate(dev disk.Device, n int) error {
	o := DefaultOptions()
	o.CommitInterval = -1
	fs, err := Open(dev, o)
	if err != nil {
		return err
	}
	root, _ := fs.Tree(format.FSTreeObjectID)
	for i := 0; i < n && err == nil; i += 100 {
		err = createBatch(fs, root, i, min(n, i+100))
	}
	return errors.Join(err, fs.Close())
}

func createBatch(fs *FS, root *ctree.Root, from, to int) error {
	h, err := fs.Start(CreateItems * (to - from))
	if err != nil {
		return err
	}
	for i := from; i < to && err == nil; i++ {
		err = createFile(h, root, format.FirstFreeObjectID, format.FirstFreeObjectID+1+uint64(i), 2+uint64(i), fmt.Sprintf("file-%08d", i))
	}
	return errors.Join(err, h.End())
}
