package fsck

import (
	"slices"

	"cowfs/disk/format"
)

// matchTreeRefs merges the pointers to tree blocks with the extent records
// (#50): every tree block has exactly one record, whose refs count its
// parents and whose backrefs name them; every tree-block record is pointed
// to (#52).
func (r *run) matchTreeRefs() {
	f := &r.x.ext
	refs := f.treeRefs
	slices.SortFunc(refs, func(a, b treeRef) int { return cmpU64(a.child, b.child) })
	child := func(t *treeRef) uint64 { return t.child }
	i := 0
	for k := range f.recs {
		e := &f.recs[k]
		if e.dup {
			continue
		}
		for i < len(refs) && refs[i].child < e.start {
			i = r.noExtentItem(refs, i, groupEnd(refs, i, child))
		}
		j := i
		if i < len(refs) && refs[i].child == e.start {
			j = groupEnd(refs, i, child)
		}
		r.treeExtent(e, refs[i:j])
		i = j
	}
	for i < len(refs) {
		i = r.noExtentItem(refs, i, groupEnd(refs, i, child))
	}
}

// noExtentItem reports a tree block without an extent record and checks
// its placement; it returns end.
func (r *run) noExtentItem(refs []treeRef, i, end int) int {
	t := refs[i]
	r.xadd(KindExtentRef, 50, blockLoc(t.owner, t.child), "tree block %d (level %d) has no extent item", t.child, t.level)
	r.treePlacement(t)
	return end
}

// treeExtent checks one extent record against the pointers to its start.
func (r *run) treeExtent(e *extentRec, group []treeRef) {
	switch {
	case len(group) == 0 && e.tree():
		r.xadd(KindExtentRef, 52, e.loc(), "tree block extent %d has refs %d, found 0 pointers", e.start, e.refs)
		return
	case len(group) == 0:
		return // a data extent: matchDataRefs judges it
	case !e.tree():
		r.xadd(KindExtentRef, 50, e.loc(), "tree block %d has a data extent item (flags 0x%x)", e.start, e.flags)
		return
	}
	r.treePlacement(group[0])
	if uint64(len(group)) != e.refs {
		r.xadd(KindExtentRef, 50, e.loc(), "tree block %d has refs %d, found %d pointers", e.start, e.refs, len(group))
	}
	if lv := group[0].level; lv != e.level {
		r.xadd(KindExtentRef, 50, e.loc(), "tree block %d is level %d, extent item says %d", e.start, lv, e.level)
	}
	r.treeBackrefs(e, group)
}

// treeBackrefs compares a tree block's backrefs with its pointers.
func (r *run) treeBackrefs(e *extentRec, group []treeRef) {
	f := &r.x.ext
	want := make([]backref, 0, len(group))
	for _, t := range group {
		want = append(want, f.backrefFor(t))
	}
	var have []backref
	for _, b := range f.refsOf(e) {
		if b.typ == format.TreeBlockRefKey || b.typ == format.SharedBlockRefKey {
			have = append(have, b)
		}
	}
	for _, d := range diffRefs(want, have) {
		r.xadd(KindExtentRef, 50, e.loc(), "tree block %d: %v has count %d, found %d pointers",
			e.start, d.ref, d.have, d.want)
	}
}

// backrefFor is the backref pointer t calls for: a shared ref to the parent
// when the parent is FULL_BACKREF, a shared ref to the block itself for a
// root of the old backref revision, otherwise a tree ref to the parent's
// owner (the tree id for a root).
func (f *extentFacts) backrefFor(t treeRef) backref {
	switch {
	case t.parent != 0 && f.fullBackref(t.parent):
		return backref{typ: format.SharedBlockRefKey, count: 1, root: t.parent}
	case t.parent == 0 && slices.Contains(f.selfShared, t.child):
		return backref{typ: format.SharedBlockRefKey, count: 1, root: t.child}
	}
	return backref{typ: format.TreeBlockRefKey, count: 1, root: t.owner}
}

// treePlacement checks where a tree block lies (#50): in a METADATA chunk
// (SYSTEM for the chunk tree), not across a 64 KiB stripe boundary
// measured from the start of its block group.
func (r *run) treePlacement(t treeRef) {
	start, c, ok := r.img.Chunks.Lookup(t.child)
	if !ok {
		return // unreadable: reported by the walk
	}
	at := blockLoc(t.owner, t.child)
	want := format.BlockGroupMetadata
	if t.owner == format.ChunkTreeObjectID {
		want = format.BlockGroupSystem
	}
	if c.Type&want == 0 {
		r.xadd(KindExtentRef, 50, at, "tree block %d lies in chunk %d of type %s, expect %s",
			t.child, start, blockGroupName(c.Type), blockGroupName(want))
	}
	ns := uint64(r.img.NodeSize())
	if off := t.child - start; off%format.StripeLen+ns > format.StripeLen {
		r.xadd(KindExtentRef, 50, at, "tree block %d crosses a 64 KiB stripe boundary of block group %d", t.child, start)
	}
}

// blockGroupName names block-group type bits: "METADATA", "DATA|METADATA".
func blockGroupName(flags uint64) string {
	s := ""
	for _, n := range []struct {
		bit  uint64
		name string
	}{{format.BlockGroupData, "DATA"}, {format.BlockGroupSystem, "SYSTEM"}, {format.BlockGroupMetadata, "METADATA"}} {
		if flags&n.bit != 0 {
			if s != "" {
				s += "|"
			}
			s += n.name
		}
	}
	if s == "" {
		return "none"
	}
	return s
}
