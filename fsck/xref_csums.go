package fsck

import (
	"bytes"

	"cowfs/disk"
	"cowfs/disk/format"
)

// csumFacts are the csum tree's EXTENT_CSUM items (start and sector count),
// and, with Options.CheckDataCsum, the sectors whose data did not match.
type csumFacts struct {
	verify bool
	buf    []byte // data read back by verifyData, reused
	items  []csumRec
	odd    []loc     // items of the csum tree that are not EXTENT_CSUM of -10
	bad    []csumBad // data mismatches (CheckDataCsum)
	// cover holds every checksummed byte, built by checkCsums for #65;
	// valid only when covered is true.
	cover   spans
	covered bool
}

type csumRec struct {
	start   uint64
	sectors uint32
	block   uint64
	slot    int32
}

func (c *csumRec) loc() loc {
	return itemLoc(format.CsumTreeObjectID, c.block, int(c.slot),
		format.Key{ObjectID: format.ExtentCsumObjectID, Type: format.ExtentCsumKey, Offset: c.start})
}

// csumBad is an item some of whose sectors' data does not match.
type csumBad struct {
	at         loc
	first      uint64 // logical address of the first bad sector
	n          int    // bad sectors
	unreadable bool
}

func (f *csumFacts) item(img *Image, at loc, data []byte) {
	k := at.key
	cs := img.Super.CsumType.Size()
	if k.ObjectID != format.ExtentCsumObjectID || k.Type != format.ExtentCsumKey {
		f.odd = append(f.odd, at)
		return
	}
	f.items = append(f.items, csumRec{start: k.Offset, sectors: uint32(len(data) / cs), block: at.block, slot: int32(at.slot)})
	if f.verify {
		f.verifyData(img, at, data)
	}
}

// checkCsums checks the csum items (#67): none overlaps the one before it
// (inside one leaf that is the checker's #26), none holds more sums than
// an item can, and every checksummed sector lies in a data extent. It also
// builds the coverage the fs-root checks (#65) query.
func (r *run) checkCsums() {
	if !r.x.complete(format.CsumTreeObjectID) {
		r.skipped("data checksums", "#65, #67")
		return
	}
	f := &r.x.csum
	for _, at := range f.odd {
		r.xadd(KindCsum, 67, at, "item %v in the csum tree, expect (EXTENT_CSUM EXTENT_CSUM offset)", at.key)
	}
	r.csumItems()
	f.cover, f.covered = r.csumSpans(), true
	if r.x.complete(format.ExtentTreeObjectID) {
		r.csumsOutsideData()
	}
	for _, b := range f.bad {
		r.csumMismatch(b)
	}
}

// csumItems checks each item against the one before it and its size.
func (r *run) csumItems() {
	f := &r.x.csum
	ss := uint64(r.img.Super.SectorSize)
	maxSums := (uint64(format.LeafDataSize(r.img.NodeSize()))-2*format.ItemHeaderSize)/uint64(r.img.Super.CsumType.Size()) - 1
	var prevEnd uint64
	for i := range f.items {
		c := &f.items[i]
		if i > 0 && c.start < prevEnd && f.items[i-1].block != c.block {
			r.xadd(KindCsum, 67, c.loc(), "checksums from %d overlap the previous item's, which run to %d", c.start, prevEnd)
		}
		if uint64(c.sectors) > maxSums {
			r.xadd(KindCsum, 67, c.loc(), "item holds %d checksums, at most %d fit", c.sectors, maxSums)
		}
		prevEnd = max(prevEnd, addSat(c.start, uint64(c.sectors)*ss))
	}
}

// csumSpans returns the checksummed ranges, merged.
func (r *run) csumSpans() spans {
	ss := uint64(r.img.Super.SectorSize)
	out := make([]span, 0, len(r.x.csum.items))
	for _, c := range r.x.csum.items {
		out = append(out, span{c.start, addSat(c.start, uint64(c.sectors)*ss)})
	}
	return normalize(out)
}

// csumsOutsideData reports items checksumming bytes of no data extent.
func (r *run) csumsOutsideData() {
	var data []span
	for i := range r.x.ext.recs {
		if e := &r.x.ext.recs[i]; e.data() {
			data = append(data, span{e.start, e.end()})
		}
	}
	outside := r.x.csum.cover.minus(normalize(data))
	ss := uint64(r.img.Super.SectorSize)
	for i := range r.x.csum.items {
		c := &r.x.csum.items[i]
		end := addSat(c.start, uint64(c.sectors)*ss)
		if j := outside.first(c.start); j < len(outside) && outside[j].start < end {
			s := span{max(outside[j].start, c.start), min(outside[j].end, end)}
			r.xadd(KindCsum, 67, c.loc(), "checksums of [%d, %d) lie in no data extent", s.start, s.end)
		}
	}
}

func (r *run) csumMismatch(b csumBad) {
	if b.unreadable {
		r.xadd(KindCsum, 67, b.at, "data at %d cannot be read to verify its checksum", b.first)
		return
	}
	r.xadd(KindCsum, 67, b.at, "data checksum mismatch at %d (%d bad sectors in this item)", b.first, b.n)
}

// verifyData re-reads the sectors an item checksums, in runs inside one
// chunk, and compares every copy with the stored sums.
func (f *csumFacts) verifyData(img *Image, at loc, sums []byte) {
	ss := uint64(img.Super.SectorSize)
	cs := img.Super.CsumType.Size()
	bad := csumBad{at: at}
	n := uint64(len(sums) / cs)
	for i := uint64(0); i < n; {
		pos := at.key.Offset + i*ss
		k := runInChunk(img, pos, n-i, ss)
		if k == 0 {
			bad.unreadable, bad.first = true, pos
			f.bad = append(f.bad, bad)
			return
		}
		f.buf = growTo(f.buf, int(k*ss))
		if !compareRun(img, pos, f.buf, sums[i*uint64(cs):(i+k)*uint64(cs)], &bad) {
			f.bad = append(f.bad, bad)
			return
		}
		i += k
	}
	if bad.n > 0 {
		f.bad = append(f.bad, bad)
	}
}

// runInChunk returns how many sectors from pos (at most want, at most 1 MiB)
// lie in one chunk.
func runInChunk(img *Image, pos, want, ss uint64) uint64 {
	start, c, ok := img.Chunks.Lookup(pos)
	if !ok {
		return 0
	}
	return min(want, (start+c.Length-pos)/ss, (1<<20)/ss)
}

func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// compareRun reads every copy of [pos, pos+len(buf)) and counts sectors
// whose sum differs; it returns false when the data cannot be read.
func compareRun(img *Image, pos uint64, buf, sums []byte, bad *csumBad) bool {
	copies, err := img.Chunks.Copies(pos, uint64(len(buf)))
	if err != nil {
		bad.unreadable, bad.first = true, pos
		return false
	}
	ss := int(img.Super.SectorSize)
	cs := img.Super.CsumType.Size()
	for _, phys := range copies {
		if err := img.Dev.ReadAt(buf, phys, disk.KindData); err != nil {
			bad.unreadable, bad.first = true, pos
			return false
		}
		for s := 0; s*ss < len(buf); s++ {
			got := img.Super.CsumType.Sum(buf[s*ss : (s+1)*ss])
			if !bytes.Equal(got[:cs], sums[s*cs:(s+1)*cs]) {
				if bad.n == 0 {
					bad.first = pos + uint64(s*ss)
				}
				bad.n++
			}
		}
	}
	return true
}
