package fsck

import (
	"slices"

	"cowfs/disk/format"
)

// freeSpaceFacts are the free-space tree's items: one record per
// FREE_SPACE_INFO, with the free ranges its extents or bitmaps list.
type freeSpaceFacts struct {
	infos []fsInfoRec
	free  []span // the listed ranges; infos[i] owns free[first : first+n]
	stray []loc  // extents or bitmaps outside the block group of the info before them
	// malformed are items whose shape is wrong (xref_freespace_items.go);
	// they list nothing.
	malformed []fsMalformed
}

type fsInfoRec struct {
	start, length    uint64
	count, flags     uint32
	at               loc
	first, n         int32
	extents, bitmaps int32 // items of each kind
}

func (i *fsInfoRec) end() uint64 { return addSat(i.start, i.length) }

func (f *freeSpaceFacts) item(img *Image, at loc, data []byte) {
	k := at.key
	if k.Type == format.FreeSpaceInfoKey {
		f.addInfo(at, data)
		return
	}
	if k.Type != format.FreeSpaceExtentKey && k.Type != format.FreeSpaceBitmapKey {
		return
	}
	if msg := entryShape(k, len(data), uint64(img.Super.SectorSize)); msg != "" {
		f.malformed = append(f.malformed, fsMalformed{at, msg})
		return
	}
	n := len(f.infos)
	if n == 0 || k.ObjectID < f.infos[n-1].start || addSat(k.ObjectID, k.Offset) > f.infos[n-1].end() {
		f.stray = append(f.stray, at)
		return
	}
	info := &f.infos[n-1]
	before := len(f.free)
	if k.Type == format.FreeSpaceExtentKey {
		f.free = append(f.free, span{k.ObjectID, k.ObjectID + k.Offset})
		info.extents++
	} else {
		f.free = appendBitmap(f.free, k.ObjectID, k.Offset, data, uint64(img.Super.SectorSize))
		info.bitmaps++
	}
	info.n += int32(len(f.free) - before)
}

// appendBitmap appends the runs of set bits of a FREE_SPACE_BITMAP as
// ranges.
func appendBitmap(out []span, start, length uint64, bits []byte, ss uint64) []span {
	format.FreeSpaceBitmapRuns(start, length, bits, ss, func(s, n uint64) { out = append(out, span{s, s + n}) })
	return out
}

// checkFreeSpace compares the free-space tree, when it is marked valid,
// with the extent tree (#58):
// each block group's free ranges are the group minus its extents, and
// extent_count counts them. The 64 KiB stripes holding superblock copies
// are left out on both sides (allocators never use them; whether the tree
// lists them as free varies).
func (r *run) checkFreeSpace() {
	const fst = format.CompatRoFreeSpaceTree | format.CompatRoFreeSpaceTreeValid
	if r.img.Super.CompatRoFlags&fst != fst {
		return // no tree, or one the kernel will rebuild
	}
	if !r.x.complete(format.FreeSpaceTreeObjectID, format.ExtentTreeObjectID, r.bgTree()) {
		r.skipped("free-space tree", "#58")
		return
	}
	f := &r.x.free
	supers := r.superStripes()
	for i := range r.x.alloc.bgs {
		b := &r.x.alloc.bgs[i]
		info := f.info(b.start)
		switch {
		case info == nil:
			r.xadd(KindFreeSpace, 58, b.at, "block group %d has no FREE_SPACE_INFO", b.start)
		case info.length != b.length:
			r.xadd(KindFreeSpace, 58, info.at, "FREE_SPACE_INFO length %d, block group %d is %d long", info.length, b.start, b.length)
		default:
			r.freeSpaceOf(b, info, supers)
		}
	}
	for i := range f.infos {
		if info := &f.infos[i]; r.x.alloc.blockGroupAt(info.start) == nil {
			r.orphanInfo(info)
		}
	}
	for _, at := range f.stray {
		r.xadd(KindFreeSpace, 58, at, "free space entry outside the block group of the FREE_SPACE_INFO before it")
	}
	for _, m := range f.malformed {
		r.xadd(KindFreeSpace, 58, m.at, "%s", m.msg)
	}
}

// orphanInfo reports a FREE_SPACE_INFO whose block group does not exist.
// mkfs.btrfs up to 6.16 leaves those of the temporary groups it deletes, all
// below its first real group, where the kernel never allocates a chunk
// again (new chunks go past the last one): a note, as btrfs check 6.2 says
// nothing (6.16.1 and later report them). Any other is a problem, as in
// btrfs check 6.16.1 (6.2 notices one only past the last group's start).
func (r *run) orphanInfo(info *fsInfoRec) {
	const msg = "FREE_SPACE_INFO for block group %d, which does not exist"
	if bgs := r.x.alloc.bgs; len(bgs) > 0 && info.end() <= bgs[0].start {
		r.xnote(KindFreeSpace, 58, info.at, msg+" (below the first block group: a leftover of mkfs.btrfs)", info.start)
		return
	}
	r.xadd(KindFreeSpace, 58, info.at, msg, info.start)
}

// info finds the FREE_SPACE_INFO of the group starting at start.
func (f *freeSpaceFacts) info(start uint64) *fsInfoRec {
	i, ok := slices.BinarySearchFunc(f.infos, start, func(x fsInfoRec, s uint64) int { return cmpU64(x.start, s) })
	if !ok {
		return nil
	}
	return &f.infos[i]
}

// blockGroupAt finds the block group starting at start.
func (f *allocFacts) blockGroupAt(start uint64) *bgRec {
	i, ok := slices.BinarySearchFunc(f.bgs, start, func(b bgRec, s uint64) int { return cmpU64(b.start, s) })
	if !ok {
		return nil
	}
	return &f.bgs[i]
}

// freeSpaceOf compares one block group's listed free space with its
// extents.
func (r *run) freeSpaceOf(b *bgRec, info *fsInfoRec, supers spans) {
	f := &r.x.free
	entries := slices.Clone(f.free[info.first : info.first+info.n])
	r.freeSpaceOverlap(info, entries)
	listed := normalize(entries)
	r.freeSpaceCount(info, listed)
	want := spans{{b.start, b.end()}}.minus(r.allocatedIn(b)).minus(supers)
	got := listed.minus(supers)
	if miss := want.minus(got); len(miss) > 0 {
		r.xadd(KindFreeSpace, 58, info.at, "block group %d: free range [%d, %d) is not listed (%d such ranges)",
			b.start, miss[0].start, miss[0].end, len(miss))
	}
	if extra := got.minus(want); len(extra) > 0 {
		r.xadd(KindFreeSpace, 58, info.at, "block group %d: range [%d, %d) is listed free but is allocated (%d such ranges)",
			b.start, extra[0].start, extra[0].end, len(extra))
	}
}

// freeSpaceCount checks extent_count and that the items match the bitmap
// flag.
func (r *run) freeSpaceCount(info *fsInfoRec, listed spans) {
	bitmap := info.flags&format.FreeSpaceUsingBitmaps != 0
	found := int(info.extents)
	if bitmap {
		found = len(listed)
	}
	if uint32(found) != info.count {
		r.xadd(KindFreeSpace, 58, info.at, "extent_count %d, found %d free extents", info.count, found)
	}
	if (bitmap && info.extents > 0) || (!bitmap && info.bitmaps > 0) {
		r.xadd(KindFreeSpace, 58, info.at, "flags 0x%x, but the group has %d extent and %d bitmap items",
			info.flags, info.extents, info.bitmaps)
	}
	if bad := info.flags &^ format.FreeSpaceUsingBitmaps; bad != 0 {
		r.xadd(KindFreeSpace, 58, info.at, "unknown flags 0x%x", bad)
	}
}

// allocatedIn returns the ranges of the extent records inside b.
func (r *run) allocatedIn(b *bgRec) spans {
	recs := r.x.ext.recs
	i, _ := slices.BinarySearchFunc(recs, b.start, func(e extentRec, s uint64) int { return cmpU64(e.start, s) })
	var out []span
	for ; i < len(recs) && recs[i].start < b.end(); i++ {
		out = append(out, span{recs[i].start, recs[i].end()})
	}
	return normalize(out)
}

// superStripes returns the logical 64 KiB stripes holding a superblock
// copy, for chunks whose stripes map logical bytes one to one.
func (r *run) superStripes() spans {
	var out []span
	for start, c := range r.img.Chunks.Chunks() {
		if p := c.Type & format.BlockGroupProfileMask; p != 0 && p&(format.BlockGroupDup|format.BlockGroupRaid1|
			format.BlockGroupRaid1C3|format.BlockGroupRaid1C4) == 0 {
			continue
		}
		for _, st := range c.Stripes {
			for m := range format.SuperMirrorMax {
				off := uint64(format.MirrorOffset(m))
				if off >= st.Offset && off-st.Offset < c.Length {
					s := start + (off-st.Offset)/format.StripeLen*format.StripeLen
					out = append(out, span{s, s + format.StripeLen})
				}
			}
		}
	}
	return normalize(out)
}
