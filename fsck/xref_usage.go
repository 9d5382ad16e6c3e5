package fsck

import "cowfs/disk/format"

// checkUsage checks the byte counters (#57): each block group's used is
// the sum of the extents inside it (nodesize for a METADATA_ITEM), every
// extent lies inside one block group, and the superblock's bytes_used is
// the sum of the groups' used.
func (r *run) checkUsage() {
	if !r.x.complete(format.ExtentTreeObjectID, r.bgTree()) {
		r.skipped("block group usage", "#57")
		return
	}
	bgs := r.x.alloc.bgs
	sums := r.extentSums(bgs)
	var total uint64
	for i := range bgs {
		b := &bgs[i]
		if sums[i] != b.used {
			r.xadd(KindAllocation, 57, b.at, "block group %d used %d, its extents sum to %d", b.start, b.used, sums[i])
		}
		total += b.used
	}
	if s := r.img.Super; s.BytesUsed != total {
		r.xadd(KindAllocation, 57, superLoc(), "bytes_used %d, block groups' used sum to %d", s.BytesUsed, total)
	}
}

// extentSums adds up the extent records inside each block group, and
// reports records outside every group or across a group's end.
func (r *run) extentSums(bgs []bgRec) []uint64 {
	f := &r.x.ext
	sums := make([]uint64, len(bgs))
	j := 0
	for k := range f.recs {
		e := &f.recs[k]
		if e.dup {
			continue
		}
		for j < len(bgs) && bgs[j].end() <= e.start {
			j++
		}
		switch {
		case j == len(bgs) || bgs[j].start > e.start:
			r.xadd(KindAllocation, 57, e.loc(), "extent [%d, %d) lies in no block group", e.start, e.end())
		case e.end() > bgs[j].end():
			r.xadd(KindAllocation, 57, e.loc(), "extent [%d, %d) crosses the end %d of block group %d",
				e.start, e.end(), bgs[j].end(), bgs[j].start)
			sums[j] += e.length
		default:
			sums[j] += e.length
		}
	}
	return sums
}
