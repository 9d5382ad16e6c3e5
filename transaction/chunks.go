package transaction

import (
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// insertPendingChunks inserts the items of the chunks created since the
// last round: CHUNK_ITEM (chunk tree), DEV_EXTENT (dev tree),
// BLOCK_GROUP_ITEM (extent tree), and the DEV_ITEM's new bytes_used. It
// returns how many chunks it added.
func (fs *FS) insertPendingChunks(h *Handle) (int, error) {
	groups := fs.alloc.TakePending()
	if len(groups) == 0 {
		return 0, nil
	}
	extent, _ := fs.trees.get(format.ExtentTreeObjectID)
	dev, _ := fs.trees.get(format.DevTreeObjectID)
	for _, g := range groups {
		c, ok := fs.alloc.Chunk(g.Start)
		if !ok {
			return 0, fmt.Errorf("new chunk %d: not in the chunk map", g.Start)
		}
		s := c.Stripes[0]
		items := []struct {
			root *ctree.Root
			key  format.Key
			data []byte
		}{
			{fs.chunkTree, format.Key{ObjectID: format.FirstChunkTreeObjectID, Type: format.ChunkItemKey, Offset: g.Start}, c.Encode()},
			{dev.root, format.Key{ObjectID: s.DevID, Type: format.DevExtentKey, Offset: s.Offset},
				(&format.DevExtent{ChunkTree: format.ChunkTreeObjectID, ChunkObjectID: format.FirstChunkTreeObjectID,
					ChunkOffset: g.Start, Length: g.Length}).Encode()},
			{extent.root, format.Key{ObjectID: g.Start, Type: format.BlockGroupItemKey, Offset: g.Length},
				(&format.BlockGroupItem{Used: g.Used, ChunkObjectID: format.FirstChunkTreeObjectID, Flags: g.Flags}).Encode()},
		}
		for _, it := range items {
			if err := ctree.InsertItem(h, it.root, it.key, it.data); err != nil {
				return 0, fmt.Errorf("new chunk %d: insert %v into tree %d: %w", g.Start, it.key, it.root.ID, err)
			}
		}
	}
	return len(groups), fs.updateDevItem(h)
}

// updateDevItem writes the device's bytes_used into its DEV_ITEM.
func (fs *FS) updateDevItem(h *Handle) error {
	sb := fs.Super()
	key := format.Key{ObjectID: format.DevItemsObjectID, Type: format.DevItemKey, Offset: sb.DevItem.DevID}
	used := fs.alloc.DevBytesUsed()
	return updateItem(h, fs.chunkTree, key, func(b []byte) ([]byte, error) {
		d, err := format.DecodeDevItem(b)
		if err != nil {
			return nil, err
		}
		d.BytesUsed = used
		return d.Encode(), nil
	})
}
