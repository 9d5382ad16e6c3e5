package fsck

import (
	"slices"

	"cowfs/disk/format"
)

// matchDataRefs merges the file extents with the data extent records
// (#51): each file extent names the start of a record as long as its
// disk_num_bytes, whose refs count the file extents and whose backrefs
// count them per (root, inode, offset) or per shared leaf; every data
// record is referenced (#52) and lies in a DATA chunk.
func (r *run) matchDataRefs() {
	f := &r.x.ext
	refs := f.dataRefs
	slices.SortFunc(refs, func(a, b dataRef) int { return cmpU64(a.bytenr, b.bytenr) })
	at := func(d *dataRef) uint64 { return d.bytenr }
	i := 0
	var prev *extentRec
	for k := range f.recs {
		e := &f.recs[k]
		if e.dup {
			continue
		}
		for i < len(refs) && refs[i].bytenr < e.start {
			i = r.noDataExtent(refs, i, groupEnd(refs, i, at), prev)
		}
		j := i
		if i < len(refs) && refs[i].bytenr == e.start {
			j = groupEnd(refs, i, at)
		}
		if e.data() || j > i {
			r.dataExtent(e, refs[i:j])
		}
		i, prev = j, e
	}
	for i < len(refs) {
		i = r.noDataExtent(refs, i, groupEnd(refs, i, at), prev)
	}
}

// noDataExtent reports file extents whose disk_bytenr starts no extent
// record (perhaps pointing inside prev); it returns end.
func (r *run) noDataExtent(refs []dataRef, i, end int, prev *extentRec) int {
	d := &refs[i]
	if prev != nil && d.bytenr < prev.end() {
		r.xadd(KindExtentRef, 51, d.loc(), "disk_bytenr %d points inside extent [%d, %d), not at its start",
			d.bytenr, prev.start, prev.end())
	} else {
		r.xadd(KindExtentRef, 51, d.loc(), "data extent %d (%d bytes) has no extent item", d.bytenr, d.diskLen)
	}
	return end
}

// dataExtent checks one record against the file extents naming its start.
func (r *run) dataExtent(e *extentRec, group []dataRef) {
	switch {
	case !e.data():
		r.xadd(KindExtentRef, 51, group[0].loc(), "disk_bytenr %d is a tree block extent, not data", e.start)
		return
	case len(group) == 0:
		r.xadd(KindExtentRef, 52, e.loc(), "data extent %d has refs %d, found 0 file extents", e.start, e.refs)
		return
	}
	r.dataPlacement(e)
	for i := range group {
		if d := &group[i]; d.diskLen != e.length {
			r.xadd(KindExtentRef, 51, d.loc(), "disk_num_bytes %d, but extent item %d is %d bytes long",
				d.diskLen, e.start, e.length)
		}
	}
	if uint64(len(group)) != e.refs {
		r.xadd(KindExtentRef, 51, e.loc(), "data extent %d has refs %d, found %d file extents", e.start, e.refs, len(group))
	}
	r.dataBackrefs(e, group)
}

// dataBackrefs compares a data extent's backrefs with its file extents: a
// file extent in a FULL_BACKREF leaf needs a shared data ref to the leaf,
// any other an EXTENT_DATA_REF (leaf owner, inode, file offset − offset).
func (r *run) dataBackrefs(e *extentRec, group []dataRef) {
	f := &r.x.ext
	want := make([]backref, 0, len(group))
	for i := range group {
		d := &group[i]
		if f.fullBackref(d.leaf) {
			want = append(want, backref{typ: format.SharedDataRefKey, count: 1, root: d.leaf})
		} else {
			want = append(want, backref{typ: format.ExtentDataRefKey, count: 1, root: d.root, ino: d.ino, off: d.off()})
		}
	}
	var have []backref
	for _, b := range f.refsOf(e) {
		if b.typ == format.ExtentDataRefKey || b.typ == format.SharedDataRefKey {
			have = append(have, b)
		}
	}
	for _, d := range diffRefs(want, have) {
		r.xadd(KindExtentRef, 51, e.loc(), "data extent %d: %v has count %d, found %d file extents",
			e.start, d.ref, d.have, d.want)
	}
}

// dataPlacement checks that a data extent lies in a DATA chunk (#51).
func (r *run) dataPlacement(e *extentRec) {
	start, c, ok := r.img.Chunks.Lookup(e.start)
	if !ok {
		r.xadd(KindExtentRef, 51, e.loc(), "data extent %d is in no chunk", e.start)
		return
	}
	if c.Type&format.BlockGroupData == 0 {
		r.xadd(KindExtentRef, 51, e.loc(), "data extent %d lies in chunk %d of type %s, expect DATA",
			e.start, start, blockGroupName(c.Type))
	}
}
