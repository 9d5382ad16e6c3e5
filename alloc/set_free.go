package alloc

import "fmt"

// SetFree gives the group starting at start, freshly added, the free
// ranges a free-space tree lists for it (the open path's alternative to
// MarkUsed for every extent item): its superblock stripes stay out whether
// listed or not, as the kernel excludes them when it loads the tree, and
// Used becomes the rest of the group. Nothing changes on error.
func (a *Allocator) SetFree(start uint64, free []Range) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, err := a.groupLocked(Range{start, 1})
	if err != nil || g.Start != start {
		return fmt.Errorf("%w: free space listed for block group %d, which does not exist", ErrAccounting, start)
	}
	if g.Used != 0 || g.Reserved != 0 || g.Pinned != 0 {
		return fmt.Errorf("%w: %v: free space set after use", ErrAccounting, g)
	}
	fs, err := a.listedFree(g, free)
	if err != nil {
		return fmt.Errorf("%w: %v: %w", ErrAccounting, g, err)
	}
	if g.listed != nil {
		g.listed = newFreeSpace()
		for _, r := range free {
			_ = g.listed.add(r) // checked by listedFree
		}
	}
	g.free, g.Used = fs, g.Length-g.Super-fs.bytes
	return nil
}

// listedFree builds the free set of g from the listed ranges, less its
// superblock stripes.
func (a *Allocator) listedFree(g *BlockGroup, free []Range) (*freeSpace, error) {
	fs := newFreeSpace()
	for _, r := range free {
		if !g.contains(r) {
			return nil, fmt.Errorf("free range %v outside the group", r)
		}
		if err := fs.add(r); err != nil {
			return nil, err
		}
	}
	for _, s := range a.superStripes(g) {
		fs.clip(s)
	}
	return fs, nil
}

// clip marks every free byte of r used.
func (f *freeSpace) clip(r Range) {
	var hits []Range
	if h, ok := f.containing(r.Start); ok {
		hits = append(hits, h)
	}
	f.t.AscendGreaterOrEqual(Range{Start: r.Start}, func(x Range) bool {
		if x.Start >= r.End() {
			return false
		}
		if x.Start > r.Start {
			hits = append(hits, x)
		}
		return true
	})
	for _, h := range hits {
		lo, hi := max(h.Start, r.Start), min(h.End(), r.End())
		_ = f.remove(Range{lo, hi - lo}) // free by construction
	}
}
