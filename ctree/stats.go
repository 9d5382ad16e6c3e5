package ctree

import (
	"fmt"
	"strings"
	"sync/atomic"

	"cowfs/disk/format"
)

// COWHistBounds are the upper bounds of the buckets of Stats.SearchCOWHist:
// bucket i counts searches that COWed at most COWHistBounds[i] blocks (and
// more than COWHistBounds[i-1]); the last bucket counts every search above
// the last bound.
var COWHistBounds = [...]uint64{0, 1, 2, 4, 8, 16, 64, 256}

// NumCOWHistBuckets is the number of histogram buckets.
const NumCOWHistBuckets = len(COWHistBounds) + 1

// treeStats are the live counters of one tree.
type treeStats struct {
	cows, reCOWs  [format.MaxLevel]atomic.Uint64
	overwrites    [format.MaxLevel]atomic.Uint64
	searches      atomic.Uint64
	searchCOWs    [NumCOWHistBuckets]atomic.Uint64
	maxSearchCOWs atomic.Uint64
	restarts      [NumRestartCauses]atomic.Uint64

	leafSplits, doubleSplits, nodeSplits, leafPushes  atomic.Uint64
	nodeMerges, nodeRefills, leafMerges, leafRemovals atomic.Uint64
	rootGrows, rootShrinks, neighbourSkips            atomic.Uint64
}

func (t *treeStats) cow(level int, reCOW bool) {
	t.cows[level].Add(1)
	if reCOW {
		t.reCOWs[level].Add(1)
	}
}

func (t *treeStats) restart(c RestartCause) { t.restarts[c].Add(1) }

// searched records one SearchSlot that COWed n blocks.
func (t *treeStats) searched(n int) {
	t.searches.Add(1)
	v := uint64(n)
	b := len(COWHistBounds)
	for i, bound := range COWHistBounds {
		if v <= bound {
			b = i
			break
		}
	}
	t.searchCOWs[b].Add(1)
	for {
		cur := t.maxSearchCOWs.Load()
		if v <= cur || t.maxSearchCOWs.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Stats is a snapshot of one tree's counters. Counters only grow; subtract
// two snapshots (Sub) for the figures of one run.
type Stats struct {
	Root uint64 // tree id
	// COWs counts blocks copied before modification, by level; ReCOWs
	// those of them that the running transaction had created itself.
	COWs, ReCOWs [format.MaxLevel]uint64
	// Overwrites counts WRITTEN blocks re-dirtied to be rewritten in place
	// (the overwrite policies), by level: once per write of the block.
	Overwrites [format.MaxLevel]uint64
	// Searches counts SearchSlot calls; SearchCOWHist buckets them by the
	// blocks each COWed (bounds in COWHistBounds), restarts included;
	// MaxSearchCOWs is the most blocks one call COWed.
	Searches      uint64
	SearchCOWHist [NumCOWHistBuckets]uint64
	MaxSearchCOWs uint64
	// Restarts counts releases of the whole path, by cause.
	Restarts [NumRestartCauses]uint64

	LeafSplits   uint64 // leaves split in two
	DoubleSplits uint64 // leaves split in three for a large item
	NodeSplits   uint64
	LeafPushes   uint64 // items moved to a neighbour instead of a split
	NodeMerges   uint64 // nodes merged into a neighbour on delete
	NodeRefills  uint64 // nodes refilled from a neighbour on delete
	LeafMerges   uint64 // leaves merged into a neighbour on delete
	LeafRemovals uint64 // leaves removed (emptied or merged)
	RootGrows    uint64 // new root above a split root
	RootShrinks  uint64 // root node with one child replaced by the child
	// NeighbourSkips counts optional leaf pushes and merges skipped because
	// the neighbour was not cached or its try-lock failed (no restart).
	NeighbourSkips uint64
}

// Stats returns a snapshot of the tree's counters.
func (r *Root) Stats() Stats {
	t := &r.stats
	s := Stats{Root: r.ID, Searches: t.searches.Load(), MaxSearchCOWs: t.maxSearchCOWs.Load(),
		LeafSplits: t.leafSplits.Load(), DoubleSplits: t.doubleSplits.Load(),
		NodeSplits: t.nodeSplits.Load(), LeafPushes: t.leafPushes.Load(),
		NodeMerges: t.nodeMerges.Load(), NodeRefills: t.nodeRefills.Load(),
		LeafMerges: t.leafMerges.Load(), LeafRemovals: t.leafRemovals.Load(),
		RootGrows: t.rootGrows.Load(), RootShrinks: t.rootShrinks.Load(),
		NeighbourSkips: t.neighbourSkips.Load()}
	for i := range s.COWs {
		s.COWs[i], s.ReCOWs[i] = t.cows[i].Load(), t.reCOWs[i].Load()
		s.Overwrites[i] = t.overwrites[i].Load()
	}
	for i := range s.SearchCOWHist {
		s.SearchCOWHist[i] = t.searchCOWs[i].Load()
	}
	for i := range s.Restarts {
		s.Restarts[i] = t.restarts[i].Load()
	}
	return s
}

// TotalCOWs = Σ COWs over all levels.
func (s Stats) TotalCOWs() uint64 { return sum(s.COWs[:]) }

// TotalReCOWs = Σ ReCOWs over all levels.
func (s Stats) TotalReCOWs() uint64 { return sum(s.ReCOWs[:]) }

// TotalOverwrites = Σ Overwrites over all levels.
func (s Stats) TotalOverwrites() uint64 { return sum(s.Overwrites[:]) }

// TotalRestarts = Σ Restarts over all causes.
func (s Stats) TotalRestarts() uint64 { return sum(s.Restarts[:]) }

// ReCOWRatio = TotalReCOWs / TotalCOWs: the share of COWs that copied a
// block the running transaction had already copied (0 when no COW). Under
// the `always` policy every re-COW follows a writeback of a block created in
// the same transaction.
func (s Stats) ReCOWRatio() float64 { return ratio(s.TotalReCOWs(), s.TotalCOWs()) }

// COWsPerSearch = TotalCOWs / Searches (COWs outside SearchSlot, by
// DelItems' leaf merges, are included in the numerator).
func (s Stats) COWsPerSearch() float64 { return ratio(s.TotalCOWs(), s.Searches) }

// RestartsPerSearch = TotalRestarts / Searches.
func (s Stats) RestartsPerSearch() float64 { return ratio(s.TotalRestarts(), s.Searches) }

// Sub returns the counters of s minus those of prev (an earlier snapshot of
// the same tree). MaxSearchCOWs is not a counter and is kept from s.
func (s Stats) Sub(prev Stats) Stats {
	d := s
	for i := range d.COWs {
		d.COWs[i] -= prev.COWs[i]
		d.ReCOWs[i] -= prev.ReCOWs[i]
		d.Overwrites[i] -= prev.Overwrites[i]
	}
	for i := range d.SearchCOWHist {
		d.SearchCOWHist[i] -= prev.SearchCOWHist[i]
	}
	for i := range d.Restarts {
		d.Restarts[i] -= prev.Restarts[i]
	}
	d.Searches -= prev.Searches
	d.LeafSplits -= prev.LeafSplits
	d.DoubleSplits -= prev.DoubleSplits
	d.NodeSplits -= prev.NodeSplits
	d.LeafPushes -= prev.LeafPushes
	d.NodeMerges -= prev.NodeMerges
	d.NodeRefills -= prev.NodeRefills
	d.LeafMerges -= prev.LeafMerges
	d.LeafRemovals -= prev.LeafRemovals
	d.RootGrows -= prev.RootGrows
	d.RootShrinks -= prev.RootShrinks
	d.NeighbourSkips -= prev.NeighbourSkips
	return d
}

// String prints the figures on a few lines.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tree %d: searches=%d cows=%d recows=%d recow-ratio=%.3f overwrites=%d max-search-cows=%d\n",
		s.Root, s.Searches, s.TotalCOWs(), s.TotalReCOWs(), s.ReCOWRatio(), s.TotalOverwrites(), s.MaxSearchCOWs)
	fmt.Fprintf(&b, "  cows by level %v, recows by level %v\n", trim(s.COWs[:]), trim(s.ReCOWs[:]))
	fmt.Fprintf(&b, "  search cow histogram (<=%v,more) %v\n", COWHistBounds, s.SearchCOWHist)
	b.WriteString("  restarts")
	for c := range NumRestartCauses {
		fmt.Fprintf(&b, " %s=%d", c, s.Restarts[c])
	}
	fmt.Fprintf(&b, "\n  splits leaf=%d double=%d node=%d pushes=%d merges node=%d leaf=%d refills=%d removals=%d root grow=%d shrink=%d neighbour-skips=%d",
		s.LeafSplits, s.DoubleSplits, s.NodeSplits, s.LeafPushes, s.NodeMerges, s.LeafMerges,
		s.NodeRefills, s.LeafRemovals, s.RootGrows, s.RootShrinks, s.NeighbourSkips)
	return b.String()
}

func sum(v []uint64) uint64 {
	var t uint64
	for _, x := range v {
		t += x
	}
	return t
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// trim drops trailing zero levels.
func trim(v []uint64) []uint64 {
	n := len(v)
	for n > 1 && v[n-1] == 0 {
		n--
	}
	return v[:n]
}
