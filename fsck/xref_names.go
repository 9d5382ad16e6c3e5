package fsck

import (
	"bytes"
	"slices"

	"cowfs/disk/format"
)

// Where a name was found.
const (
	srcRef   = iota // INODE_REF or INODE_EXTREF entry, in the child
	srcIndex        // DIR_INDEX entry, in the parent
	srcItem         // DIR_ITEM entry, in the parent
)

var srcNames = [...]string{srcRef: "INODE_REF", srcIndex: "DIR_INDEX", srcItem: "DIR_ITEM"}

// nameRec is one name of an inode, as one of the three items sees it.
type nameRec struct {
	dir, child, index uint64 // index: unknown (0) for a DIR_ITEM
	block, keyOff     uint64 // where: leaf, and the item's key offset
	slot              int32
	off               uint32 // the name: arena[off : off+n]
	n                 uint16
	src               uint8
	ftype             uint8 // DIR_ITEM / DIR_INDEX type
	keyType           uint8
}

func newNameRec(at loc, src uint8) nameRec {
	return nameRec{block: at.block, keyOff: at.key.Offset, slot: int32(at.slot), src: src, keyType: at.key.Type}
}

// loc rebuilds the location of the item holding the name, in tree.
func (n *nameRec) loc(tree uint64) loc {
	obj := n.dir
	if n.src == srcRef {
		obj = n.child
	}
	return itemLoc(tree, n.block, int(n.slot), format.Key{ObjectID: obj, Type: n.keyType, Offset: n.keyOff})
}

func (t *fsTree) name(n *nameRec) []byte { return t.arena[n.off : n.off+uint32(n.n)] }

// addName files a name with the others of its source.
func (t *fsTree) addName(n nameRec, name []byte) {
	n.off, n.n = uint32(len(t.arena)), uint16(len(name))
	t.arena = append(t.arena, name...)
	t.names[n.src] = append(t.names[n.src], n)
}

// inodeRefs files the names of an INODE_REF or INODE_EXTREF item.
func (t *fsTree) inodeRefs(at loc, data []byte) {
	if at.key.Type == format.InodeRefKey {
		refs, err := format.DecodeInodeRefs(data)
		if err != nil {
			return
		}
		for _, e := range refs {
			t.addRef(at, at.key.Offset, e.Index, e.Name)
		}
		return
	}
	refs, err := format.DecodeInodeExtrefs(data)
	if err != nil {
		return
	}
	for _, e := range refs {
		t.addRef(at, e.Parent, e.Index, e.Name)
	}
}

func (t *fsTree) addRef(at loc, parent, index uint64, name []byte) {
	c := &t.cur
	c.names++
	if c.ino == rootDirIno && parent == rootDirIno {
		if index == 0 && string(name) == ".." {
			t.rootRef = true
		} else {
			t.add(60, at, "root directory's INODE_REF to itself is index %d %q, expect 0 \"..\"", index, name)
		}
		return
	}
	n := newNameRec(at, srcRef)
	n.dir, n.child, n.index = parent, c.ino, index
	t.addName(n, name)
}

// dirEntries files the entries of a DIR_ITEM or DIR_INDEX item; entries
// naming a subvolume go to the root-ref check (#68).
func (t *fsTree) dirEntries(at loc, data []byte) {
	ents, err := format.DecodeDirItem(data)
	if err != nil {
		return
	}
	isIndex := at.key.Type == format.DirIndexKey
	src := uint8(srcItem)
	if isIndex {
		src = srcIndex
		if len(ents) != 1 {
			t.add(62, at, "DIR_INDEX holds %d entries, expect 1", len(ents))
		}
	}
	c := &t.cur
	for _, e := range ents {
		c.dirSize += uint64(len(e.Name))
		c.entries++
		if e.Location.Type == format.RootItemKey {
			t.r.x.subvolEntries = append(t.r.x.subvolEntries, subvolEntry{tree: t.id, dir: c.ino,
				subvol: e.Location.ObjectID, index: at.key.Offset, isIndex: isIndex, name: string(e.Name)})
			continue
		}
		n := newNameRec(at, src)
		n.dir, n.child, n.ftype = c.ino, e.Location.ObjectID, e.Type&^format.FtEncrypted
		if isIndex {
			n.index = at.key.Offset
		}
		t.addName(n, e.Name)
	}
}

// matchNames checks that each name has its INODE_REF, DIR_INDEX and
// DIR_ITEM, agreeing on name, index, inode and type, with no name or index
// used twice in a directory (#62).
func (t *fsTree) matchNames() {
	refs, index, items := t.names[srcRef], t.names[srcIndex], t.names[srcItem]
	t.duplicates(index, t.byDirName, "name")
	t.duplicates(items, t.byDirName, "name")
	t.merge(refs, index, t.byDirIndex)
	t.duplicates(refs, t.byDirIndex, "index")
	t.merge(refs, items, t.byDirName)
}

func (t *fsTree) byDirIndex(a, b nameRec) int {
	if c := cmpU64(a.dir, b.dir); c != 0 {
		return c
	}
	return cmpU64(a.index, b.index)
}

func (t *fsTree) byDirName(a, b nameRec) int {
	if c := cmpU64(a.dir, b.dir); c != 0 {
		return c
	}
	return bytes.Compare(t.arena[a.off:a.off+uint32(a.n)], t.arena[b.off:b.off+uint32(b.n)])
}

// duplicates reports neighbours equal under cmp (after sorting by it).
func (t *fsTree) duplicates(s []nameRec, cmp func(a, b nameRec) int, what string) {
	slices.SortFunc(s, cmp)
	for i := 1; i < len(s); i++ {
		if a, b := &s[i-1], &s[i]; cmp(*a, *b) == 0 {
			t.add(62, b.loc(t.id), "%s %q (index %d) in directory %d: the same %s as %v", srcNames[b.src], t.name(b),
				b.index, b.dir, what, a.loc(t.id).key)
		}
	}
}

// merge pairs refs with the entries of one kind (DIR_INDEX or DIR_ITEM),
// both sorted by cmp.
func (t *fsTree) merge(refs, ents []nameRec, cmp func(a, b nameRec) int) {
	slices.SortFunc(refs, cmp)
	slices.SortFunc(ents, cmp)
	kind := srcNames[srcItem]
	if len(ents) > 0 {
		kind = srcNames[ents[0].src]
	}
	i, j := 0, 0
	for i < len(refs) || j < len(ents) {
		c := 0
		switch {
		case j == len(ents):
			c = -1
		case i == len(refs):
			c = 1
		default:
			c = cmp(refs[i], ents[j])
		}
		switch {
		case c < 0:
			r := &refs[i]
			t.add(62, r.loc(t.id), "inode %d name %q in directory %d (index %d) has no %s", r.child, t.name(r), r.dir, r.index, kind)
			i++
		case c > 0:
			t.entryWithoutRef(&ents[j])
			j++
		default:
			t.sameEntry(&refs[i], &ents[j])
			i, j = i+1, j+1
		}
	}
}

// entryWithoutRef reports a directory entry no INODE_REF matches.
func (t *fsTree) entryWithoutRef(e *nameRec) {
	kind := srcNames[e.src]
	switch _, ok := t.mode(e.child); {
	case e.child == rootDirIno:
		t.add(60, e.loc(t.id), "%s %q in directory %d points to the root directory", kind, t.name(e), e.dir)
	case !ok:
		t.add(62, e.loc(t.id), "%s %q in directory %d points to inode %d, which does not exist", kind, t.name(e), e.dir, e.child)
	default:
		t.add(62, e.loc(t.id), "%s %q in directory %d (inode %d) has no INODE_REF", kind, t.name(e), e.dir, e.child)
	}
}

// sameEntry compares a ref with the entry paired to it.
func (t *fsTree) sameEntry(r, e *nameRec) {
	kind := srcNames[e.src]
	if !bytes.Equal(t.name(r), t.name(e)) {
		t.add(62, e.loc(t.id), "%s index %d in directory %d is %q, the INODE_REF says %q", kind, e.index, e.dir, t.name(e), t.name(r))
	}
	if r.child != e.child {
		t.add(62, e.loc(t.id), "%s %q in directory %d points to inode %d, the INODE_REF is inode %d's", kind, t.name(e), e.dir, e.child, r.child)
		return
	}
	if mode, ok := t.mode(e.child); ok && fileType(mode) != e.ftype {
		t.add(62, e.loc(t.id), "%s %q in directory %d has type %d, inode %d has mode 0%o (type %d)",
			kind, t.name(e), e.dir, e.ftype, e.child, mode, fileType(mode))
	}
}

// fileType is the directory-entry type of an inode mode.
func fileType(mode uint32) uint8 {
	switch mode & modeType {
	case 0o100000:
		return format.FtRegFile
	case modeDir:
		return format.FtDir
	case 0o020000:
		return format.FtChrdev
	case 0o060000:
		return format.FtBlkdev
	case 0o010000:
		return format.FtFifo
	case 0o140000:
		return format.FtSock
	case modeLink:
		return format.FtSymlink
	}
	return format.FtUnknown
}
