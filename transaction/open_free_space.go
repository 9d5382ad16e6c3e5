package transaction

import (
	"fmt"

	"cowfs/alloc"
	"cowfs/disk/format"
)

// Free space at open: from the free-space tree when the superblock marks
// it valid (compat_ro FREE_SPACE_TREE and FREE_SPACE_TREE_VALID), as the
// kernel's space_cache=v2 does, reading one item per free extent or
// bitmap instead of every extent item; from the extent tree otherwise
// (loadExtents). fsck compares the two (#58).

// Free-space sources, as FreeSpaceSource reports them.
const (
	FreeSpaceFromTree    = "free-space tree"
	FreeSpaceFromExtents = "extent tree"
)

// FreeSpaceSource says where the open took the free space from.
func (fs *FS) FreeSpaceSource() string { return fs.freeSource }

// useFreeSpaceTree: the tree is marked valid and not to be ignored.
func (fs *FS) useFreeSpaceTree(sb *format.Super) bool {
	return hasValidFreeSpaceTree(sb) && !fs.opts.IgnoreFreeSpaceTree
}

// hasValidFreeSpaceTree: compat_ro FREE_SPACE_TREE and _VALID are set.
func hasValidFreeSpaceTree(sb *format.Super) bool {
	const valid = format.CompatRoFreeSpaceTree | format.CompatRoFreeSpaceTreeValid
	return sb.CompatRoFlags&valid == valid
}

// fsGroup gathers one FREE_SPACE_INFO's entries while the tree is read.
type fsGroup struct {
	key   format.Key
	info  format.FreeSpaceInfo
	free  []alloc.Range
	items int // FREE_SPACE_EXTENT or FREE_SPACE_BITMAP items
}

// extents is what extent_count counts: extent items, or the runs of set
// bits (a run across two bitmaps counts once).
func (g *fsGroup) extents() int {
	if g.info.Flags&format.FreeSpaceUsingBitmaps == 0 {
		return g.items
	}
	n := 0
	for i, r := range g.free {
		if i == 0 || g.free[i-1].End() != r.Start {
			n++
		}
	}
	return n
}

// loadFreeSpaceTree gives every block group the free ranges the tree
// lists. A FREE_SPACE_INFO whose group does not exist is skipped, as the
// kernel looks infos up by group (mkfs.btrfs leaves some below its first
// group); a group without one, an entry outside its info's group or a
// wrong extent_count is corruption, as it is for the kernel.
func (fs *FS) loadFreeSpaceTree() error {
	t, ok := fs.trees.get(format.FreeSpaceTreeObjectID)
	if !ok {
		return fmt.Errorf("%w: compat_ro marks a free-space tree, the root tree has no ROOT_ITEM for it", format.ErrCorrupt)
	}
	groups := map[uint64]bool{}
	for _, g := range fs.alloc.Groups() {
		groups[g.Start] = false
	}
	var cur *fsGroup
	it := t.root.ScanFrom(format.Key{})
	for it.Next() {
		next, err := fs.freeSpaceItem(cur, it.Item().Key, it.Item().Data)
		if err == nil && next != cur {
			err = fs.setGroupFree(cur, groups)
		}
		if err != nil {
			return fmt.Errorf("free-space tree: %v: %w", it.Item().Key, err)
		}
		cur = next
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("free-space tree: %w", err)
	}
	if err := fs.setGroupFree(cur, groups); err != nil {
		return fmt.Errorf("free-space tree: %w", err)
	}
	return fs.missingInfo(groups)
}

// freeSpaceItem adds one item of the tree to cur, or starts the next
// group at a FREE_SPACE_INFO.
func (fs *FS) freeSpaceItem(cur *fsGroup, k format.Key, data []byte) (*fsGroup, error) {
	if k.Type == format.FreeSpaceInfoKey {
		fi, err := format.DecodeFreeSpaceInfo(data)
		if err != nil {
			return nil, err
		}
		return &fsGroup{key: k, info: *fi}, nil
	}
	if k.Type != format.FreeSpaceExtentKey && k.Type != format.FreeSpaceBitmapKey {
		return cur, nil
	}
	if cur == nil || k.ObjectID < cur.key.ObjectID || k.ObjectID+k.Offset > cur.key.ObjectID+cur.key.Offset {
		return nil, fmt.Errorf("%w: free space entry outside the block group of the FREE_SPACE_INFO before it", format.ErrCorrupt)
	}
	cur.items++
	if k.Type == format.FreeSpaceExtentKey {
		cur.free = append(cur.free, alloc.Range{Start: k.ObjectID, Len: k.Offset})
		return cur, nil
	}
	format.FreeSpaceBitmapRuns(k.ObjectID, k.Offset, data, uint64(fs.SectorSize()), func(s, n uint64) {
		cur.free = append(cur.free, alloc.Range{Start: s, Len: n})
	})
	return cur, nil
}

// setGroupFree hands a finished group's ranges to the allocator after
// checking its extent_count.
func (fs *FS) setGroupFree(g *fsGroup, groups map[uint64]bool) error {
	if g == nil {
		return nil
	}
	seen, ok := groups[g.key.ObjectID]
	if !ok {
		return nil // no such block group: ignored, as by the kernel
	}
	if seen {
		return fmt.Errorf("%w: two FREE_SPACE_INFOs for block group %d", format.ErrCorrupt, g.key.ObjectID)
	}
	groups[g.key.ObjectID] = true
	if n := g.extents(); n != int(g.info.ExtentCount) {
		return fmt.Errorf("%w: block group %d: extent_count %d, found %d free extents (run cowfs fsck)",
			format.ErrCorrupt, g.key.ObjectID, g.info.ExtentCount, n)
	}
	if err := fs.alloc.SetFree(g.key.ObjectID, g.free); err != nil {
		return fmt.Errorf("%w: %w (run cowfs fsck)", format.ErrCorrupt, err)
	}
	return nil
}

// missingInfo reports the first block group (by address) the tree has no
// FREE_SPACE_INFO for.
func (fs *FS) missingInfo(groups map[uint64]bool) error {
	for _, g := range fs.alloc.Groups() {
		if !groups[g.Start] {
			return fmt.Errorf("%w: free-space tree: block group %d has no FREE_SPACE_INFO (run cowfs fsck)", format.ErrCorrupt, g.Start)
		}
	}
	return nil
}
