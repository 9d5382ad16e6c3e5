package fsck

import "cowfs/disk/format"

// item files one leaf item of tree (whose header names owner) with the
// facts it belongs to.
func (x *xref) item(tree, owner, block uint64, slot int, k format.Key, data []byte) {
	at := itemLoc(tree, block, slot, k)
	if !keyAtHome(tree, k.Type) {
		x.misplaced = append(x.misplaced, at)
		return
	}
	switch tree {
	case format.ExtentTreeObjectID:
		x.extentTreeItem(at, data)
	case format.BlockGroupTreeObjectID:
		if k.Type == format.BlockGroupItemKey {
			x.alloc.blockGroup(at, data)
		}
	case format.ChunkTreeObjectID:
		x.alloc.chunkTreeItem(at, data)
	case format.DevTreeObjectID:
		if k.Type == format.DevExtentKey {
			x.alloc.devExtent(at, data)
		}
	case format.CsumTreeObjectID:
		x.csum.item(x.img, at, data)
	case format.FreeSpaceTreeObjectID:
		x.free.item(x.img, at, data)
	case format.RootTreeObjectID:
		x.roots.item(at, data)
	}
	if k.Type == format.ExtentDataKey {
		x.ext.fileExtent(owner, at, data)
	}
}

// extentTreeItem files the extent tree's items: extent records, their
// keyed backrefs, and block groups.
func (x *xref) extentTreeItem(at loc, data []byte) {
	switch at.key.Type {
	case format.ExtentItemKey, format.MetadataItemKey:
		x.ext.extentItem(at, data, x.img.NodeSize())
	case format.TreeBlockRefKey, format.SharedBlockRefKey, format.ExtentDataRefKey, format.SharedDataRefKey:
		x.ext.keyedRef(at, data)
	case format.BlockGroupItemKey:
		x.alloc.blockGroup(at, data)
	}
}

// homeTrees lists, for the key types that belong to one tree only (#53),
// the trees they may appear in.
var homeTrees = map[uint8][]uint64{
	format.ChunkItemKey:      {format.ChunkTreeObjectID},
	format.DevItemKey:        {format.ChunkTreeObjectID},
	format.ExtentItemKey:     {format.ExtentTreeObjectID},
	format.MetadataItemKey:   {format.ExtentTreeObjectID},
	format.BlockGroupItemKey: {format.ExtentTreeObjectID, format.BlockGroupTreeObjectID},
	format.RootItemKey:       {format.RootTreeObjectID, format.TreeLogObjectID},
	format.DevExtentKey:      {format.DevTreeObjectID},
}

// keyAtHome reports whether an item of key type typ may be in tree.
func keyAtHome(tree uint64, typ uint8) bool {
	homes, ok := homeTrees[typ]
	if !ok {
		return true
	}
	for _, h := range homes {
		if h == tree {
			return true
		}
	}
	return false
}

// misplacedKeys reports the items found outside their own tree (#53).
func (r *run) misplacedKeys() {
	for _, at := range r.x.misplaced {
		r.xadd(KindMisplacedKey, 53, at, "%s item in tree %s, it belongs in %s",
			format.KeyTypeString(at.key.Type), format.TreeName(at.tree), homeNames(at.key.Type))
	}
}

func homeNames(typ uint8) string {
	s := ""
	for i, h := range homeTrees[typ] {
		if i > 0 {
			s += " or "
		}
		s += format.TreeName(h)
	}
	return s
}
