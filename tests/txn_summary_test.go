package tests

// Figures of a transaction workload run, summed over every open of the
// image: what the workload did, and what the tree, transaction, allocator,
// cache and device layers counted.

import (
	"fmt"
	"slices"
	"strings"

	"cowfs/alloc"
	"cowfs/cache"
	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/transaction"
)

type txnTotals struct {
	transactions, commits, compares int
	fscks, btrfsChecks, opens       int
	kernelRuns, kernelXattrs        int
	tree                            ctree.Stats // Root unused; counters summed over trees
	fs                              transaction.Stats
	alloc                           alloc.Stats
	cache                           cache.Stats
	dev                             disk.Stats
	maxLevel                        map[uint64]int
}

// levels records the level of every tree of fs and returns the roots, for
// addOpen after the close.
func (s *txnTotals) levels(fs *transaction.FS) []*ctree.Root {
	var roots []*ctree.Root
	for _, id := range append([]uint64{format.RootTreeObjectID, format.ChunkTreeObjectID}, fs.TreeIDs()...) {
		r, err := fs.Tree(id)
		if err != nil {
			continue
		}
		roots = append(roots, r)
		s.maxLevel[id] = max(s.maxLevel[id], r.Level())
	}
	return roots
}

// addOpen adds the counters of a closed filesystem and its trees.
func (s *txnTotals) addOpen(fs *transaction.FS, roots []*ctree.Root) {
	s.opens++
	for _, r := range roots {
		addTreeStats(&s.tree, r.Stats())
	}
	f := fs.Stats()
	s.fs.Commits += f.Commits
	s.fs.CommitRounds += f.CommitRounds
	s.fs.Aborts += f.Aborts
	s.fs.Handles += f.Handles
	s.fs.Overspends += f.Overspends
	s.fs.Reserved += f.Reserved
	s.fs.Charged += f.Charged
	s.fs.Overspent += f.Overspent
	s.fs.MaxChargeRatio = max(s.fs.MaxChargeRatio, f.MaxChargeRatio)
	a := fs.Alloc().Stats()
	s.alloc.Allocs += a.Allocs
	s.alloc.AllocFailures += a.AllocFailures
	s.alloc.Chunks += a.Chunks
	s.alloc.PinnedBytes += a.PinnedBytes
	s.alloc.RsvFailures += a.RsvFailures
	c := fs.Cache().Stats()
	for i := range c.Writebacks {
		s.cache.Writebacks[i] += c.Writebacks[i]
	}
	s.cache.Evictions += c.Evictions
	s.cache.Misses += c.Misses
	s.cache.OverBudget += c.OverBudget
	s.cache.BlockedSkips += c.BlockedSkips
	d := fs.Device().Stats()
	for i := range d.WriteBytes {
		s.dev.WriteBytes[i] += d.WriteBytes[i]
		s.dev.ReadBytes[i] += d.ReadBytes[i]
	}
	s.dev.Flushes += d.Flushes
}

func addTreeStats(sum *ctree.Stats, s ctree.Stats) {
	for i := range s.COWs {
		sum.COWs[i] += s.COWs[i]
		sum.ReCOWs[i] += s.ReCOWs[i]
	}
	sum.Searches += s.Searches
	sum.LeafSplits += s.LeafSplits
	sum.DoubleSplits += s.DoubleSplits
	sum.NodeSplits += s.NodeSplits
	sum.LeafPushes += s.LeafPushes
	sum.LeafMerges += s.LeafMerges
	sum.NodeMerges += s.NodeMerges
	sum.LeafRemovals += s.LeafRemovals
	sum.RootGrows += s.RootGrows
	sum.RootShrinks += s.RootShrinks
	sum.MaxSearchCOWs = max(sum.MaxSearchCOWs, s.MaxSearchCOWs)
}

func (w *txnWorkload) summary() string {
	s, wk := &w.totals, w.main
	var b strings.Builder
	fmt.Fprintf(&b, "transaction workload %s (cow-policy %s): seed %d, %d transactions, %d explicit commits, %d opens, %d concurrent phases\n",
		w.cfg.name, w.cfg.policy, w.seed, s.transactions, s.commits, s.opens, wk.concurrentPhases)
	total := 0
	var ops []string
	for k, n := range wk.ops {
		total += n
		ops = append(ops, fmt.Sprintf("%s=%d", txnOpNames[k], n))
	}
	fmt.Fprintf(&b, "  operations %d (%s), handles %d, colliding entries packed %d cut %d\n",
		total, strings.Join(ops, " "), wk.handles, wk.packed, wk.unpacked)
	fmt.Fprintf(&b, "  oracles: %d fsck, %d btrfs check, %d model compares, %d kernel round trips (%d xattrs read by the kernel)\n",
		s.fscks, s.btrfsChecks, s.compares, s.kernelRuns, s.kernelXattrs)
	fmt.Fprintf(&b, "  ctree: searches %d, COWs %d (re-COWs %d), splits leaf %d double %d node %d, pushes %d, merges leaf %d node %d, removals %d, root grows %d shrinks %d, max levels %s\n",
		s.tree.Searches, s.tree.TotalCOWs(), s.tree.TotalReCOWs(), s.tree.LeafSplits, s.tree.DoubleSplits, s.tree.NodeSplits,
		s.tree.LeafPushes, s.tree.LeafMerges, s.tree.NodeMerges, s.tree.LeafRemovals, s.tree.RootGrows, s.tree.RootShrinks, w.levelList())
	fmt.Fprintf(&b, "  transaction: %+v\n", s.fs)
	fmt.Fprintf(&b, "  largest charge/reserve: %.3f by a handle of %s (%+v)\n", wk.worst.ratio, wk.worst.what, wk.worst.stats)
	fmt.Fprintf(&b, "  alloc: %+v\n", s.alloc)
	fmt.Fprintf(&b, "  cache: writebacks reclaim %d threshold %d commit %d, evictions %d, misses %d, over budget %d, pinned skipped %d\n",
		s.cache.Writebacks[cache.CauseReclaim], s.cache.Writebacks[cache.CauseThreshold], s.cache.Writebacks[cache.CauseCommit],
		s.cache.Evictions, s.cache.Misses, s.cache.OverBudget, s.cache.BlockedSkips)
	fmt.Fprintf(&b, "  device: written meta %d super %d bytes, read meta %d bytes, %d flushes",
		s.dev.WriteBytes[disk.KindMeta], s.dev.WriteBytes[disk.KindSuper], s.dev.ReadBytes[disk.KindMeta], s.dev.Flushes)
	return b.String()
}

// levelList prints the highest root level seen per tree.
func (w *txnWorkload) levelList() string {
	var ids []uint64
	for id := range w.totals.maxLevel {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%d:%d", int64(id), w.totals.maxLevel[id]))
	}
	return strings.Join(parts, " ")
}
