package alloc

import (
	"fmt"

	"github.com/google/btree"
)

// Range is a byte range [Start, Start+Len) of the logical address space.
type Range struct{ Start, Len uint64 }

// End is the first byte after r.
func (r Range) End() uint64 { return r.Start + r.Len }

func (r Range) String() string { return fmt.Sprintf("[%d, +%d)", r.Start, r.Len) }

// freeSpace is a set of disjoint, non-adjacent free ranges ordered by start
// (adjacent ranges are merged on insert), as btrfs keeps free space in
// memory when no free-space tree is used. Not safe for concurrent use.
type freeSpace struct {
	t     *btree.BTreeG[Range]
	bytes uint64
}

func newFreeSpace() *freeSpace {
	return &freeSpace{t: btree.NewG(8, func(a, b Range) bool { return a.Start < b.Start })}
}

// containing returns the free range holding byte at, if any.
func (f *freeSpace) containing(at uint64) (Range, bool) {
	var found Range
	ok := false
	f.t.DescendLessOrEqual(Range{Start: at}, func(r Range) bool {
		found, ok = r, at < r.End()
		return false
	})
	return found, ok
}

// add marks r free, merging it with free neighbours. Adding a byte that is
// already free is a double free: an error, and nothing changes.
func (f *freeSpace) add(r Range) error {
	if r.Len == 0 {
		return nil
	}
	if f.overlaps(r) {
		return fmt.Errorf("free of %v: already (partly) free", r)
	}
	merged := r
	if prev, ok := f.containing(r.Start - 1); ok && r.Start > 0 && prev.End() == r.Start {
		f.t.Delete(prev)
		merged = Range{prev.Start, prev.Len + merged.Len}
	}
	if next, ok := f.t.Get(Range{Start: r.End()}); ok {
		f.t.Delete(next)
		merged.Len += next.Len
	}
	f.t.ReplaceOrInsert(merged)
	f.bytes += r.Len
	return nil
}

// overlaps reports whether any byte of r is free.
func (f *freeSpace) overlaps(r Range) bool {
	if _, ok := f.containing(r.Start); ok {
		return true
	}
	hit := false
	f.t.AscendGreaterOrEqual(Range{Start: r.Start}, func(x Range) bool {
		hit = x.Start < r.End()
		return false
	})
	return hit
}

// remove marks r used. Every byte of r must be free; otherwise nothing
// changes and the error says so.
func (f *freeSpace) remove(r Range) error {
	if r.Len == 0 {
		return nil
	}
	home, ok := f.containing(r.Start)
	if !ok || r.End() > home.End() {
		return fmt.Errorf("allocation of %v: not (entirely) free", r)
	}
	f.t.Delete(home)
	if r.Start > home.Start {
		f.t.ReplaceOrInsert(Range{home.Start, r.Start - home.Start})
	}
	if home.End() > r.End() {
		f.t.ReplaceOrInsert(Range{r.End(), home.End() - r.End()})
	}
	f.bytes -= r.Len
	return nil
}

// find returns the first start ≥ from of a free run of length bytes whose
// offset from base is a multiple of align and that does not cross a
// boundary-aligned line (measured from base; 0: no such rule). A run longer
// than boundary cannot avoid crossing one: never found.
func (f *freeSpace) find(from, length, base, align, boundary uint64) (uint64, bool) {
	var at uint64
	ok := false
	if length == 0 || (boundary != 0 && length > boundary) {
		return 0, false
	}
	visit := func(r Range) bool {
		s := base + alignUp(max(r.Start, from)-base, align)
		// Past a boundary, realign: align need not divide boundary.
		for boundary != 0 && s+length <= r.End() && (s-base)/boundary != (s-base+length-1)/boundary {
			s = base + alignUp(alignUp(s-base+1, boundary), align)
		}
		if s >= r.Start && s+length <= r.End() {
			at, ok = s, true
			return false
		}
		return true
	}
	if r, in := f.containing(from); in {
		if !visit(r) {
			return at, ok
		}
	}
	f.t.AscendGreaterOrEqual(Range{Start: from}, visit)
	return at, ok
}

// each calls fn for every free range in order.
func (f *freeSpace) each(fn func(Range)) {
	f.t.Ascend(func(r Range) bool { fn(r); return true })
}

func alignUp(v, a uint64) uint64 {
	if a <= 1 {
		return v
	}
	return (v + a - 1) / a * a
}
