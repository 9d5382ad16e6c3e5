package mkfs

import "cowfs/disk/format"

// This file builds the allocation trees: chunk (3), dev (4), extent (2),
// free space (10).

const devID = 1

// devItem describes the single device: its size and the bytes its dev
// extents cover.
func (p *plan) devItem() *format.DevItem {
	var used uint64
	for _, c := range p.chunks {
		used += c.Length
	}
	ss := p.o.SectorSize
	return &format.DevItem{
		DevID: devID, TotalBytes: p.size, BytesUsed: used,
		IOAlign: ss, IOWidth: ss, SectorSize: ss,
		UUID: p.o.DevUUID, Fsid: p.o.Fsid,
	}
}

// chunkItem maps chunk c, one SINGLE stripe on device 1.
func (p *plan) chunkItem(c Chunk) *format.ChunkItem {
	return &format.ChunkItem{
		Length: c.Length, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen,
		Type: c.Type, IOAlign: format.StripeLen, IOWidth: format.StripeLen,
		SectorSize: p.o.SectorSize, NumStripes: 1, SubStripes: 1,
		Stripes: []format.Stripe{{DevID: devID, Offset: c.Physical, DevUUID: p.o.DevUUID}},
	}
}

// chunkKey is the key of chunk c's CHUNK_ITEM.
func chunkKey(c Chunk) format.Key {
	return format.Key{ObjectID: format.FirstChunkTreeObjectID, Type: format.ChunkItemKey, Offset: c.Logical}
}

// chunkTreeItems: the DEV_ITEM and one CHUNK_ITEM per chunk.
func (p *plan) chunkTreeItems() []item {
	items := []item{newItem(format.DevItemsObjectID, format.DevItemKey, devID, p.devItem())}
	for _, c := range p.chunks {
		items = append(items, item{chunkKey(c), p.chunkItem(c).Encode()})
	}
	return items
}

// devTreeItems: one DEV_EXTENT per chunk stripe.
func (p *plan) devTreeItems() []item {
	var items []item
	for _, c := range p.chunks {
		de := &format.DevExtent{
			ChunkTree: format.ChunkTreeObjectID, ChunkObjectID: format.FirstChunkTreeObjectID,
			ChunkOffset: c.Logical, Length: c.Length, ChunkTreeUUID: p.o.ChunkUUID,
		}
		items = append(items, newItem(devID, format.DevExtentKey, c.Physical, de))
	}
	return items
}

// extentTreeItems: a BLOCK_GROUP_ITEM per chunk with its exact used bytes,
// and a skinny METADATA_ITEM per tree block, referenced once by its owner.
func (p *plan) extentTreeItems() []item {
	var items []item
	for _, c := range p.chunks {
		bg := &format.BlockGroupItem{Used: c.Used, ChunkObjectID: format.FirstChunkTreeObjectID, Flags: c.Type}
		items = append(items, newItem(c.Logical, format.BlockGroupItemKey, c.Length, bg))
	}
	for _, t := range p.trees {
		ei := &format.ExtentItem{
			Refs: 1, Generation: generation, Flags: format.ExtentFlagTreeBlock,
			Inline: []format.InlineRef{{Type: format.TreeBlockRefKey, Offset: t.ObjectID}},
		}
		items = append(items, newItem(t.Bytenr, format.MetadataItemKey, 0, ei))
	}
	return items
}

// freeSpaceTreeItems: per chunk a FREE_SPACE_INFO and, unless the chunk is
// full, one FREE_SPACE_EXTENT for what follows its tree blocks (packed
// from its start), superblock stripes included as the kernel lists a new
// block group.
func (p *plan) freeSpaceTreeItems() []item {
	var items []item
	for _, c := range p.chunks {
		free := c.Length - c.Used
		info := &format.FreeSpaceInfo{}
		if free > 0 {
			info.ExtentCount = 1
			items = append(items, item{format.Key{ObjectID: c.Logical + c.Used, Type: format.FreeSpaceExtentKey, Offset: free}, nil})
		}
		items = append(items, newItem(c.Logical, format.FreeSpaceInfoKey, c.Length, info))
	}
	return items
}
