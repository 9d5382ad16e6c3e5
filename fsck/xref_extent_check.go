package fsck

import (
	"fmt"
	"slices"

	"cowfs/disk/format"
)

// checkExtents compares the extent tree with what the walk found pointing
// at extents (#49–#52). Overlaps and stray backrefs need only the extent
// tree; reference counts need every tree.
func (r *run) checkExtents() {
	x := r.x
	if !x.complete(format.ExtentTreeObjectID) {
		r.skipped("extent items", "#49–#52")
		return
	}
	r.extentOverlaps()
	for _, at := range x.ext.stray {
		r.xadd(KindExtentRef, 52, at, "backref without an extent item for %d", at.key.ObjectID)
	}
	if !x.whole() {
		r.skipped("extent references", "#49–#52")
		return
	}
	r.matchTreeRefs()
	r.matchDataRefs()
	r.staleRoots()
}

// extentOverlaps reports records overlapping an earlier one (#52), and
// marks them so they are not matched. Two records of one leaf are the
// checker's (#31) and only marked.
func (r *run) extentOverlaps() {
	recs := r.x.ext.recs
	prev := -1
	for i := range recs {
		e := &recs[i]
		if prev >= 0 && e.start < recs[prev].end() {
			e.dup = true
			if p := &recs[prev]; p.block != e.block {
				r.xadd(KindExtentRef, 52, e.loc(), "extent [%d, %d) overlaps extent [%d, %d)",
					e.start, e.end(), p.start, p.end())
			}
			continue
		}
		prev = i
	}
}

// groupEnd returns the end of the run of items starting at i that share
// the key returned by at.
func groupEnd[T any](s []T, i int, at func(*T) uint64) int {
	j := i + 1
	for j < len(s) && at(&s[j]) == at(&s[i]) {
		j++
	}
	return j
}

// staleRoots reports ROOT_ITEMs older than a tree block that names their
// tree in a TREE_BLOCK_REF (#49): a tree's root is copied on every change
// below it, so no block of the tree can be newer than its root.
func (r *run) staleRoots() {
	gens := r.x.roots.generations(r.img.Super)
	reported := map[uint64]bool{}
	f := &r.x.ext
	for i := range f.recs {
		e := &f.recs[i]
		if e.dup || !e.tree() {
			continue
		}
		for _, b := range f.refsOf(e) {
			g, ok := gens[b.root]
			if b.typ != format.TreeBlockRefKey || !ok || e.gen <= g.gen || reported[b.root] {
				continue
			}
			reported[b.root] = true
			r.xadd(KindStaleRoot, 49, g.at, "root item of tree %s is stale: generation %d, but its tree block %d has generation %d",
				format.TreeName(b.root), g.gen, e.start, e.gen)
		}
	}
}

// refKey orders backrefs for comparison.
func cmpBackref(a, b backref) int {
	if c := cmpU64(uint64(a.typ), uint64(b.typ)); c != 0 {
		return c
	}
	if c := cmpU64(a.root, b.root); c != 0 {
		return c
	}
	if c := cmpU64(a.ino, b.ino); c != 0 {
		return c
	}
	return cmpU64(a.off, b.off)
}

// refDiff is a backref whose count in the extent tree (have) differs from
// what the references found call for (want).
type refDiff struct {
	ref        backref
	want, have uint64
}

// diffRefs compares two backref lists as multisets, summing the counts of
// equal refs.
func diffRefs(want, have []backref) []refDiff {
	w, h := sumRefs(want), sumRefs(have)
	var out []refDiff
	i, j := 0, 0
	for i < len(w) || j < len(h) {
		switch {
		case j == len(h) || (i < len(w) && cmpBackref(w[i].ref, h[j].ref) < 0):
			out = append(out, refDiff{ref: w[i].ref, want: w[i].want})
			i++
		case i == len(w) || cmpBackref(w[i].ref, h[j].ref) > 0:
			out = append(out, refDiff{ref: h[j].ref, have: h[j].want})
			j++
		default:
			if w[i].want != h[j].want {
				out = append(out, refDiff{ref: w[i].ref, want: w[i].want, have: h[j].want})
			}
			i, j = i+1, j+1
		}
	}
	return out
}

// sumRefs sorts refs and merges equal ones, summing their counts into want.
func sumRefs(refs []backref) []refDiff {
	s := slices.Clone(refs)
	slices.SortFunc(s, cmpBackref)
	var out []refDiff
	for _, b := range s {
		if n := len(out); n > 0 && cmpBackref(out[n-1].ref, b) == 0 {
			out[n-1].want += uint64(b.count)
			continue
		}
		out = append(out, refDiff{ref: b, want: uint64(b.count)})
	}
	return out
}

// String names a backref as dump-tree does.
func (b backref) String() string {
	switch b.typ {
	case format.TreeBlockRefKey:
		return fmt.Sprintf("tree block backref root %s", rootName(b.root))
	case format.SharedBlockRefKey:
		return fmt.Sprintf("shared block backref parent %d", b.root)
	case format.SharedDataRefKey:
		return fmt.Sprintf("shared data backref parent %d", b.root)
	}
	return fmt.Sprintf("extent data backref root %s objectid %d offset %d", rootName(b.root), b.ino, b.off)
}

// rootName prints a tree id: a number for subvolumes, a name otherwise.
func rootName(id uint64) string {
	if format.IsSubvolumeID(id) {
		return fmt.Sprint(id)
	}
	return format.TreeName(id)
}
