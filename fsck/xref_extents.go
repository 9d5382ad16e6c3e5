package fsck

import (
	"slices"

	"cowfs/disk/format"
)

// extentFacts are the extent tree's records and everything found pointing
// at extents: one treeRef per pointer to a tree block (node slot, ROOT_ITEM
// or superblock), one dataRef per file extent item with a disk extent.
type extentFacts struct {
	recs     []extentRec // in extent-tree key order
	backrefs []backref   // inline then keyed refs of each record, contiguous
	stray    []loc       // keyed backrefs with no extent item before them
	treeRefs []treeRef
	dataRefs []dataRef
	// selfShared are the root blocks whose header has the old backref
	// revision (0): their extent's backref is a shared ref to themselves.
	selfShared []uint64
}

// extentRec is one EXTENT_ITEM or METADATA_ITEM.
type extentRec struct {
	start, length uint64 // length: the key offset, or nodesize for METADATA_ITEM
	refs, gen     uint64
	flags         uint64
	block         uint64 // the extent-tree leaf holding it
	slot          int32
	keyType       uint8
	level         uint8 // tree blocks: the key's level or tree_block_info's
	dup           bool  // overlaps an earlier record: reported, not matched
	first, n      int32 // its backrefs: backrefs[first : first+n]
}

func (e *extentRec) end() uint64 { return addSat(e.start, e.length) }

func (e *extentRec) tree() bool { return e.flags&format.ExtentFlagTreeBlock != 0 }

func (e *extentRec) data() bool { return e.flags&format.ExtentFlagData != 0 }

// key rebuilds the record's extent-tree key.
func (e *extentRec) key() format.Key {
	off := e.length
	if e.keyType == format.MetadataItemKey {
		off = uint64(e.level)
	}
	return format.Key{ObjectID: e.start, Type: e.keyType, Offset: off}
}

func (e *extentRec) loc() loc {
	return itemLoc(format.ExtentTreeObjectID, e.block, int(e.slot), e.key())
}

// backref is one inline or keyed backref. root is the root id of a
// TREE_BLOCK_REF or EXTENT_DATA_REF, the parent bytenr of a SHARED_* ref.
type backref struct {
	typ      uint8
	count    uint32
	root     uint64
	ino, off uint64 // EXTENT_DATA_REF only
}

// treeRef is one pointer to a tree block. parent is 0 for a root pointer
// (ROOT_ITEM or superblock); owner is then the tree id, else the header
// owner of the parent node.
type treeRef struct {
	child, parent, owner uint64
	level                uint8 // the level the pointer expects
}

// dataRef is one file extent item pointing at a data extent, in leaf (whose
// header owner is root).
type dataRef struct {
	bytenr, diskLen   uint64
	leaf, root, ino   uint64
	fileOff, extentOf uint64 // key offset and offset into the extent
	slot              int32
}

// off is the data backref offset: file offset minus offset into the extent.
func (d *dataRef) off() uint64 { return d.fileOff - d.extentOf }

func (d *dataRef) loc() loc {
	return itemLoc(d.root, d.leaf, int(d.slot), format.Key{ObjectID: d.ino, Type: format.ExtentDataKey, Offset: d.fileOff})
}

// extentItem records an EXTENT_ITEM or METADATA_ITEM with its inline refs.
// One that does not decode is left out (the checker reports it, #31).
func (f *extentFacts) extentItem(at loc, data []byte, nodesize uint32) {
	ei, err := format.DecodeExtentItem(data, at.key.Type)
	if err != nil {
		return
	}
	e := extentRec{start: at.key.ObjectID, length: at.key.Offset, refs: ei.Refs, gen: ei.Generation,
		flags: ei.Flags, block: at.block, slot: int32(at.slot), keyType: at.key.Type,
		level: ei.TreeBlockLevel, first: int32(len(f.backrefs))}
	if at.key.Type == format.MetadataItemKey {
		e.length, e.level = uint64(nodesize), uint8(min(at.key.Offset, 255))
	}
	for _, in := range ei.Inline {
		if b, ok := inlineBackref(in); ok {
			f.backrefs = append(f.backrefs, b)
			e.n++
		}
	}
	f.recs = append(f.recs, e)
}

func inlineBackref(in format.InlineRef) (backref, bool) {
	switch in.Type {
	case format.TreeBlockRefKey, format.SharedBlockRefKey:
		return backref{typ: in.Type, count: 1, root: in.Offset}, true
	case format.SharedDataRefKey:
		return backref{typ: in.Type, count: in.Count, root: in.Offset}, true
	case format.ExtentDataRefKey:
		d := in.Data
		return backref{typ: in.Type, count: d.Count, root: d.Root, ino: d.ObjectID, off: d.Offset}, true
	}
	return backref{}, false // EXTENT_OWNER_REF counts nothing
}

// keyedRef adds a keyed backref to the record it follows in key order.
func (f *extentFacts) keyedRef(at loc, data []byte) {
	b, ok := keyedBackref(at.key, data)
	if !ok {
		return
	}
	n := len(f.recs)
	if n == 0 || f.recs[n-1].start != at.key.ObjectID || int(f.recs[n-1].first+f.recs[n-1].n) != len(f.backrefs) {
		f.stray = append(f.stray, at)
		return
	}
	f.backrefs = append(f.backrefs, b)
	f.recs[n-1].n++
}

func keyedBackref(k format.Key, data []byte) (backref, bool) {
	switch k.Type {
	case format.TreeBlockRefKey, format.SharedBlockRefKey:
		return backref{typ: k.Type, count: 1, root: k.Offset}, true
	case format.SharedDataRefKey:
		s, err := format.DecodeSharedDataRef(data)
		if err != nil {
			return backref{}, false
		}
		return backref{typ: k.Type, count: s.Count, root: k.Offset}, true
	}
	d, err := format.DecodeExtentDataRef(data)
	if err != nil {
		return backref{}, false
	}
	return backref{typ: k.Type, count: d.Count, root: d.Root, ino: d.ObjectID, off: d.Offset}, true
}

// rootBlock notes a root block of the old backref revision: from before
// mixed backrefs, every backref named its parent block, and a root's named
// itself. btrfs check looks for that shared ref; the kernel treats such a
// block as FULL_BACKREF when it copies it.
func (f *extentFacts) rootBlock(v *Visit) {
	if format.Header(v.Block).BackrefRev() < format.BackrefRev {
		f.selfShared = append(f.selfShared, v.Expect.Bytenr)
	}
}

// pointers records every child pointer of a usable node.
func (f *extentFacts) pointers(v *Visit) {
	n := format.Node(v.Block)
	h := n.Header()
	for i := 0; i < n.NrItems() && n.PtrInBounds(i); i++ {
		f.treeRefs = append(f.treeRefs, treeRef{child: n.BlockPtr(i), parent: v.Expect.Bytenr,
			owner: h.Owner(), level: h.Level() - 1})
	}
}

// fileExtent records a regular or prealloc file extent with a disk extent.
func (f *extentFacts) fileExtent(owner uint64, at loc, data []byte) {
	fe, err := format.DecodeFileExtent(data)
	if err != nil || fe.Type == format.FileExtentInline || fe.DiskBytenr == 0 {
		return
	}
	f.dataRefs = append(f.dataRefs, dataRef{bytenr: fe.DiskBytenr, diskLen: fe.DiskNumBytes,
		leaf: at.block, root: owner, ino: at.key.ObjectID, fileOff: at.key.Offset, extentOf: fe.Offset,
		slot: int32(at.slot)})
}

// find returns the record starting at bytenr (not one marked dup), if any.
func (f *extentFacts) find(bytenr uint64) *extentRec {
	i, _ := slices.BinarySearchFunc(f.recs, bytenr, func(e extentRec, b uint64) int { return cmpU64(e.start, b) })
	for ; i < len(f.recs) && f.recs[i].start == bytenr; i++ {
		if !f.recs[i].dup {
			return &f.recs[i]
		}
	}
	return nil
}

// fullBackref reports whether the tree block at bytenr has FULL_BACKREF set:
// then the blocks and data extents it points to carry shared refs naming it.
func (f *extentFacts) fullBackref(bytenr uint64) bool {
	e := f.find(bytenr)
	return e != nil && e.tree() && e.flags&format.ExtentFlagFullBackref != 0
}

func (f *extentFacts) refsOf(e *extentRec) []backref { return f.backrefs[e.first : e.first+e.n] }

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addSat adds without wrapping past 2^64−1.
func addSat(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}
