package fsck

import (
	"fmt"

	"cowfs/disk"
)

// Options tunes Check.
type Options struct {
	// MaxProblems stops collecting (and walking) after this many problems;
	// 0 means no limit.
	MaxProblems int
	// CheckDataCsum re-reads every checksummed data sector and compares it
	// with its EXTENT_CSUM entry (btrfs check --check-data-csum). It reads
	// all the file data, so it is off by default.
	CheckDataCsum bool
}

func (o Options) String() string {
	return fmt.Sprintf("fsck.Options{MaxProblems: %d, CheckDataCsum: %t}", o.MaxProblems, o.CheckDataCsum)
}

// TruncatedError reports a device smaller than the superblock says it is:
// an image cut short, whose end (and the blocks there) is missing.
type TruncatedError struct {
	Size, Want int64
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("image truncated: %d bytes, the superblock's dev_item.total_bytes is %d", e.Size, e.Want)
}

// Check opens dev read-only and checks it (see the package doc). The error
// is for input that is not a checkable btrfs image at all: no valid
// superblock, an unusable sys_chunk_array, a truncated device. Everything
// else is a Problem in the report.
func Check(dev disk.Device, opts Options) (*Report, error) {
	img, err := Open(dev)
	if err != nil {
		return nil, err
	}
	if want := int64(img.Super.DevItem.TotalBytes); dev.Size() < want {
		return nil, &TruncatedError{Size: dev.Size(), Want: want}
	}
	return img.Check(opts), nil
}

// Check checks an opened image.
func (img *Image) Check(opts Options) *Report {
	r := &run{img: img, opts: opts, rep: &Report{}, seen: map[uint64]*seenBlock{}}
	r.x = newXref(img, opts)
	r.supers()
	r.chunks()
	faults := img.WalkAll(r)
	for _, f := range faults {
		r.rootItemFault(f)
	}
	r.x.rootFaults = len(faults)
	r.required()
	r.crossCheck()
	return r.rep
}

// run is the state of one Check: the report and every block reached.
type run struct {
	img  *Image
	opts Options
	rep  *Report
	seen map[uint64]*seenBlock
	cur  int // index in rep.Trees of the tree being walked
	// walked holds the id of every tree whose root block was usable;
	// dropping those skipped because their deletion has begun.
	walked, dropping map[uint64]bool
	// x gathers, during the walk, what the cross-reference checks need.
	x *xref
}

// seenBlock remembers which walk first reached a block (an index in
// rep.Trees) and whether that walk went below it.
type seenBlock struct {
	tree      int
	descended bool
}

func (r *run) add(p Problem) {
	if r.full() {
		r.rep.Truncated = true
		return
	}
	r.rep.Problems = append(r.rep.Problems, p)
}

// full reports whether MaxProblems has been reached.
func (r *run) full() bool { return r.opts.MaxProblems > 0 && len(r.rep.Problems) >= r.opts.MaxProblems }

// Start begins counting a new tree walk. A tree whose deletion has begun is
// not walked (its freed blocks may hold anything now); a warning says so.
func (r *run) Start(t Tree) bool {
	if t.Dropping {
		r.markDropping(t.ID)
		r.x.incomplete[t.ID] = true
		r.rep.Warnings = append(r.rep.Warnings, Problem{Kind: KindMissingTree, Tree: t.ID, Block: t.Bytenr, Slot: -1,
			Message: fmt.Sprintf("tree %s is being deleted: not checked", treeLabel(t))})
		return false
	}
	r.rep.Trees = append(r.rep.Trees, TreeStats{Tree: t})
	r.cur = len(r.rep.Trees) - 1
	r.x.root(t)
	return true
}
