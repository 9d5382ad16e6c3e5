package fsck

import (
	"cowfs/disk/format"
)

// rootFacts are the root tree's ROOT_ITEMs, ROOT_REF / ROOT_BACKREF items
// and orphan items (subvolumes being deleted).
type rootFacts struct {
	items   []rootRec
	refs    []rootRefRec
	orphans map[uint64]bool
}

type rootRec struct {
	id, gen uint64
	dirid   uint64 // root_dirid: the tree's root directory
	refs    uint32
	at      loc
}

// rootRefRec is a ROOT_REF (parent, 156, child) or, with back set, a
// ROOT_BACKREF (child, 144, parent): from is the key objectid, to its offset.
type rootRefRec struct {
	back       bool
	from, to   uint64
	dirid, seq uint64
	name       string
	at         loc
}

// subvolEntry is a DIR_ITEM or DIR_INDEX entry naming a subvolume.
type subvolEntry struct {
	tree, dir, subvol uint64
	index             uint64 // DIR_INDEX key offset; 0 for a DIR_ITEM entry
	isIndex           bool
	name              string
}

func (f *rootFacts) item(at loc, data []byte) {
	k := at.key
	switch {
	case k.Type == format.RootItemKey:
		if ri, err := format.DecodeRootItem(data); err == nil && k.ObjectID != format.TreeRelocObjectID {
			f.items = append(f.items, rootRec{id: k.ObjectID, gen: ri.Generation, dirid: ri.RootDirID, refs: ri.Refs,
				at: at})
		}
	case k.Type == format.RootRefKey || k.Type == format.RootBackrefKey:
		if rr, err := format.DecodeRootRef(data); err == nil {
			f.refs = append(f.refs, rootRefRec{back: k.Type == format.RootBackrefKey, from: k.ObjectID, to: k.Offset,
				dirid: rr.DirID, seq: rr.Sequence, name: string(rr.Name), at: at})
		}
	case k.Type == format.OrphanItemKey && k.ObjectID == format.OrphanObjectID:
		if f.orphans == nil {
			f.orphans = map[uint64]bool{}
		}
		f.orphans[k.Offset] = true
	}
}

// find returns the ROOT_ITEM of tree id, if any.
func (f *rootFacts) find(id uint64) *rootRec {
	for i := range f.items {
		if f.items[i].id == id {
			return &f.items[i]
		}
	}
	return nil
}

// genAt is a tree's root generation and where it is recorded.
type genAt struct {
	gen uint64
	at  loc
}

// generations maps every tree id to its root's generation: from its
// ROOT_ITEM, or the superblock for the root and chunk trees.
func (f *rootFacts) generations(s *format.Super) map[uint64]genAt {
	out := map[uint64]genAt{
		format.RootTreeObjectID:  {s.Generation, superLoc()},
		format.ChunkTreeObjectID: {s.ChunkRootGeneration, superLoc()},
	}
	for _, it := range f.items {
		out[it.id] = genAt{it.gen, it.at}
	}
	return out
}

// checkRootRefs checks the references to subvolumes (#68): the top-level
// tree and the data-reloc tree have refs; every other subvolume is linked
// by a ROOT_BACKREF and ROOT_REF pair and the directory entries they name,
// or is being deleted (refs 0 and an orphan item).
func (r *run) checkRootRefs() {
	if !r.x.complete(format.RootTreeObjectID) {
		r.skipped("subvolume references", "#68")
		return
	}
	f := &r.x.roots
	r.pairRootRefs()
	for _, it := range f.items {
		switch {
		case it.id == format.FSTreeObjectID || it.id == format.DataRelocTreeObjectID:
			if it.refs == 0 {
				r.xadd(KindRootRef, 68, it.at, "tree %s has refs 0", rootName(it.id))
			}
		case it.id >= format.FirstFreeObjectID && format.IsSubvolumeID(it.id):
			r.subvolumeLinked(it)
		}
	}
}

// subvolumeLinked checks how one subvolume is reached.
func (r *run) subvolumeLinked(it rootRec) {
	f := &r.x.roots
	if it.refs == 0 || f.orphans[it.id] {
		if !f.orphans[it.id] {
			r.xadd(KindRootRef, 68, it.at, "subvolume %d has refs 0 and no orphan item", it.id)
		}
		return
	}
	linked := false
	for i := range f.refs {
		if b := &f.refs[i]; b.back && b.from == it.id {
			linked = true
			r.subvolumeEntries(b)
		}
	}
	if !linked {
		r.xadd(KindRootRef, 68, it.at, "subvolume %d has no ROOT_BACKREF and no orphan item", it.id)
	}
}

// subvolumeEntries checks that the directory named by a ROOT_BACKREF holds
// the subvolume's DIR_INDEX and DIR_ITEM, when that tree was checked.
func (r *run) subvolumeEntries(b *rootRefRec) {
	if !r.x.fsChecked[b.to] {
		return
	}
	var index, item bool
	for _, e := range r.x.subvolEntries {
		if e.tree == b.to && e.subvol == b.from && e.dir == b.dirid && e.name == b.name {
			index = index || (e.isIndex && e.index == b.seq)
			item = item || !e.isIndex
		}
	}
	if !index {
		r.xadd(KindRootRef, 68, b.at, "subvolume %d: tree %d has no DIR_INDEX %d %q in directory %d",
			b.from, b.to, b.seq, b.name, b.dirid)
	}
	if !item {
		r.xadd(KindRootRef, 68, b.at, "subvolume %d: tree %d has no DIR_ITEM %q in directory %d",
			b.from, b.to, b.name, b.dirid)
	}
}

// pairRootRefs matches every ROOT_REF with its ROOT_BACKREF: the same two
// trees, directory, index and name.
func (r *run) pairRootRefs() {
	f := &r.x.roots
	type pair struct {
		back     bool
		from, to uint64
	}
	byKey := map[pair]*rootRefRec{}
	for i := range f.refs {
		rr := &f.refs[i]
		byKey[pair{rr.back, rr.from, rr.to}] = rr
	}
	for i := range f.refs {
		rr := &f.refs[i]
		other := byKey[pair{!rr.back, rr.to, rr.from}]
		kind, otherKind := "ROOT_REF", "ROOT_BACKREF"
		if rr.back {
			kind, otherKind = otherKind, kind
		}
		switch {
		case other == nil:
			r.xadd(KindRootRef, 68, rr.at, "%s has no matching %s", kind, otherKind)
		case !rr.back && (other.dirid != rr.dirid || other.seq != rr.seq || other.name != rr.name):
			r.xadd(KindRootRef, 68, rr.at, "ROOT_REF (dir %d index %d %q) differs from its ROOT_BACKREF (dir %d index %d %q)",
				rr.dirid, rr.seq, rr.name, other.dirid, other.seq, other.name)
		}
	}
}
