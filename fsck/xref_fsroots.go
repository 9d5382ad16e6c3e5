package fsck

import (
	"fmt"

	"cowfs/disk"
	"cowfs/disk/format"
)

// fsTree checks one subvolume tree (#60–#66) from its items in key order.
// An inode's items share its number as objectid and come together,
// INODE_ITEM first, so each inode is judged when its items end (inodeState)
// and only a small summary of it is kept; the names, which join a child's
// INODE_REF with its parent's DIR_ITEM and DIR_INDEX, are matched once the
// tree ends.
type fsTree struct {
	r       *run
	id      uint64
	cur     inodeState
	inodes  []inodeBrief // every INODE_ITEM, by inode number
	names   [3][]nameRec // by source: srcRef, srcIndex, srcItem
	arena   []byte       // the names' bytes
	nlink0  []loc        // inodes with nlink 0: each needs an orphan item
	orphans []uint64     // ORPHAN_ITEM key offsets
	// rootRef is set once the root directory's INODE_REF to itself is seen.
	rootRef bool
	noHoles bool
}

// inodeBrief is what the name matching needs of an inode.
type inodeBrief struct {
	ino  uint64
	mode uint32
}

// inodeState accumulates one inode's items.
type inodeState struct {
	ino      uint64
	at       loc // its INODE_ITEM, or its first item
	has      bool
	inode    format.InodeItem
	names    uint32 // INODE_REF and INODE_EXTREF entries
	dirSize  uint64 // name lengths of its DIR_ITEM and DIR_INDEX entries
	entries  int    // its DIR_ITEM and DIR_INDEX entries
	extents  int
	nbytes   uint64 // what its extents account for
	end      uint64 // file offset after the last extent
	extentAt loc    // its first file extent
}

// fsRootTree reports whether a tree holds inodes: a subvolume or the
// data-reloc tree.
func fsRootTree(id uint64) bool {
	return format.IsSubvolumeID(id) || id == format.DataRelocTreeObjectID
}

// checkFsRoots checks every subvolume tree that was read whole, walking
// each again in key order.
func (r *run) checkFsRoots() {
	for _, ts := range r.rep.Trees {
		t := ts.Tree
		if !fsRootTree(t.ID) || !r.walked[t.ID] || r.full() {
			continue
		}
		if !r.x.complete(t.ID) {
			r.skipped(fmt.Sprintf("of subvolume %s", rootName(t.ID)), "#60–#66")
			continue
		}
		r.checkFsTree(t)
	}
}

func (r *run) checkFsTree(t Tree) {
	ft := &fsTree{r: r, id: t.ID, noHoles: r.img.Super.IncompatFlags&format.IncompatNoHoles != 0}
	if !r.leaves(t, ft.leaf) {
		r.skipped(fmt.Sprintf("of subvolume %s", rootName(t.ID)), "#60–#66")
		return
	}
	ft.finish()
	r.x.fsChecked[t.ID] = true
}

// leaves hands every leaf of t to fn in key order, depth first. The blocks
// are read again but not verified again: the walk verified every block it
// reached and noted those it could not use, where this stops and returns
// false (the walk may have reached a shared block through another tree).
func (r *run) leaves(t Tree, fn func(block uint64, l format.Leaf)) bool {
	bufs := make([][]byte, format.MaxLevel)
	return r.descend(t.Bytenr, int(t.Level), bufs, fn)
}

// descend reads the block at bytenr, which must be at level, into
// bufs[level] and visits its leaves.
func (r *run) descend(bytenr uint64, level int, bufs [][]byte, fn func(uint64, format.Leaf)) bool {
	ns := r.img.NodeSize()
	if r.x.bad[bytenr] || level < 0 || level >= len(bufs) || r.full() {
		return false
	}
	if bufs[level] == nil {
		bufs[level] = make([]byte, ns)
	}
	b := bufs[level]
	phys, err := r.img.Chunks.Physical(bytenr, uint64(ns))
	if err != nil || r.img.Dev.ReadAt(b, phys, disk.KindMeta) != nil || int(format.Header(b).Level()) != level {
		return false
	}
	if level == 0 {
		fn(bytenr, format.Leaf(b))
		return true
	}
	n := format.Node(b)
	for i := 0; i < n.NrItems() && n.PtrInBounds(i); i++ {
		if !r.descend(n.BlockPtr(i), level-1, bufs, fn) {
			return false
		}
	}
	return true
}

func (t *fsTree) leaf(block uint64, l format.Leaf) {
	for i := range l.NrItems() {
		if data, err := l.ItemDataChecked(i); err == nil {
			t.item(itemLoc(t.id, block, i, l.ItemKey(i)), data)
		}
	}
}

// isInode reports whether an objectid can be an inode number.
func isInode(id uint64) bool {
	return id >= format.FirstFreeObjectID && id <= format.LastFreeObjectID
}

// item files one item with its inode.
func (t *fsTree) item(at loc, data []byte) {
	k := at.key
	if k.ObjectID == format.OrphanObjectID && k.Type == format.OrphanItemKey {
		t.orphans = append(t.orphans, k.Offset)
		return
	}
	if !isInode(k.ObjectID) {
		return
	}
	if k.ObjectID != t.cur.ino {
		t.finishInode()
		t.cur = inodeState{ino: k.ObjectID, at: at}
	}
	switch k.Type {
	case format.InodeItemKey:
		if ii, err := format.DecodeInodeItem(data); err == nil {
			t.cur.has, t.cur.inode, t.cur.at = true, *ii, at
		}
	case format.InodeRefKey, format.InodeExtrefKey:
		t.inodeRefs(at, data)
	case format.DirItemKey, format.DirIndexKey:
		t.dirEntries(at, data)
	case format.ExtentDataKey:
		t.fileExtent(at, data)
	}
}

// finish judges the last inode, then what spans inodes: names, the root
// directory, orphans.
func (t *fsTree) finish() {
	t.finishInode()
	t.matchNames()
	t.rootDir()
	t.rootDirID()
	t.orphanItems()
}

func (t *fsTree) add(rule int, at loc, msg string, args ...any) {
	t.r.xadd(KindFsTree, rule, at, msg, args...)
}
