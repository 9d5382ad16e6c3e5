package transaction

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"cowfs/alloc"
	"cowfs/ctree"
	"cowfs/disk/format"
)

// Keeping the free-space tree: the allocator records, per block group,
// what the tree must list (alloc/free_space_tree.go: the group less its
// extent items); each round of the commit's fixed point rewrites the
// items of the groups whose listing changed, as the kernel edits the tree
// while it runs delayed refs. A group's items are its FREE_SPACE_INFO and
// either one FREE_SPACE_EXTENT per free range or FREE_SPACE_BITMAPs, one
// per FreeSpaceBitmapBits sectors from the group's start; it moves between
// the two at the kernel's thresholds (format.FreeSpaceThresholds). Only
// the items that differ are deleted, inserted or rewritten, so a commit
// COWs only the leaves holding the groups it changed.

// updateFreeSpaceTree writes the listing of every changed group into the
// free-space tree, when the filesystem keeps one; it returns how many
// groups it wrote.
func (fs *FS) updateFreeSpaceTree(h *Handle) (int, error) {
	if !fs.keepFreeSpaceTree {
		return 0, nil
	}
	t, _ := fs.trees.get(format.FreeSpaceTreeObjectID)
	groups := fs.alloc.DirtyFreeSpace()
	for _, g := range groups {
		if err := writeGroupFree(h, t.root, g, fs.SectorSize()); err != nil {
			return 0, fmt.Errorf("free-space tree: block group %d: %w", g.Start, err)
		}
	}
	return len(groups), nil
}

// fsItem is one item of the free-space tree.
type fsItem struct {
	key  format.Key
	data []byte
}

// writeGroupFree makes the group's items in the tree those of g.
func writeGroupFree(h *Handle, r *ctree.Root, g alloc.GroupFree, ss uint32) error {
	have, err := groupItems(r, g)
	if err != nil {
		return err
	}
	want := groupFreeItems(g, ss, usesBitmaps(have, g, ss))
	var del []format.Key
	for _, it := range have {
		if w, ok := want[it.key]; !ok || len(w) != len(it.data) {
			del = append(del, it.key)
		}
	}
	if err := ctree.DeleteKeys(h, r, del); err != nil {
		return err
	}
	return putItems(h, r, have, want)
}

// putItems inserts the wanted items that are not there and rewrites
// those whose bytes changed.
func putItems(h *Handle, r *ctree.Root, have []fsItem, want map[format.Key][]byte) error {
	old := make(map[format.Key][]byte, len(have))
	for _, it := range have {
		old[it.key] = it.data
	}
	for _, k := range slices.SortedFunc(maps.Keys(want), format.Key.Compare) {
		d, ok := old[k]
		switch {
		case ok && bytes.Equal(d, want[k]):
		case ok && len(d) == len(want[k]):
			if err := updateItem(h, r, k, func([]byte) ([]byte, error) { return want[k], nil }); err != nil {
				return err
			}
		default:
			if err := ctree.InsertItem(h, r, k, want[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// groupItems reads the group's items: its FREE_SPACE_INFO first, then its
// extents or bitmaps.
func groupItems(r *ctree.Root, g alloc.GroupFree) ([]fsItem, error) {
	var out []fsItem
	it := r.Scan(format.Key{ObjectID: g.Start}, format.Key{ObjectID: g.Start + g.Length})
	for it.Next() {
		item := it.Item()
		switch item.Key.Type {
		case format.FreeSpaceInfoKey, format.FreeSpaceExtentKey, format.FreeSpaceBitmapKey:
			out = append(out, fsItem{item.Key, item.Data})
		}
	}
	return out, it.Err()
}

// usesBitmaps decides the group's form: as it is (extents for a new
// group) unless its free extents cross the kernel's threshold.
func usesBitmaps(have []fsItem, g alloc.GroupFree, ss uint32) bool {
	bitmaps := false
	for _, it := range have {
		if it.key.Type == format.FreeSpaceInfoKey && it.key.ObjectID == g.Start {
			if fi, err := format.DecodeFreeSpaceInfo(it.data); err == nil {
				bitmaps = fi.Flags&format.FreeSpaceUsingBitmaps != 0
			}
		}
	}
	high, low := format.FreeSpaceThresholds(g.Length, ss)
	n := uint64(len(g.Free))
	switch {
	case !bitmaps && n > high:
		return true
	case bitmaps && n < low:
		return false
	}
	return bitmaps
}

// groupFreeItems are the items listing g, in extents or in bitmaps.
func groupFreeItems(g alloc.GroupFree, ss uint32, bitmaps bool) map[format.Key][]byte {
	info := format.FreeSpaceInfo{ExtentCount: uint32(len(g.Free))}
	if bitmaps {
		info.Flags = format.FreeSpaceUsingBitmaps
	}
	out := map[format.Key][]byte{{ObjectID: g.Start, Type: format.FreeSpaceInfoKey, Offset: g.Length}: info.Encode()}
	if !bitmaps {
		for _, r := range g.Free {
			out[format.Key{ObjectID: r.Start, Type: format.FreeSpaceExtentKey, Offset: r.Len}] = []byte{}
		}
		return out
	}
	span := uint64(ss) * format.FreeSpaceBitmapBits
	for at := g.Start; at < g.Start+g.Length; at += span {
		n := min(span, g.Start+g.Length-at)
		out[format.Key{ObjectID: at, Type: format.FreeSpaceBitmapKey, Offset: n}] = bitmapOf(g.Free, at, n, uint64(ss))
	}
	return out
}

// bitmapOf sets one bit per free sector of [at, at+n).
func bitmapOf(free []alloc.Range, at, n, ss uint64) []byte {
	bits := make([]byte, (n/ss+7)/8)
	for _, r := range free {
		lo, hi := max(r.Start, at), min(r.End(), at+n)
		for s := lo; s < hi; s += ss {
			i := (s - at) / ss
			bits[i/8] |= 1 << (i % 8)
		}
	}
	return bits
}
