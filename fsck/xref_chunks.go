package fsck

import (
	"slices"

	"cowfs/disk/format"
)

// allocFacts are the allocation records: chunks and devices from the chunk
// tree, block groups from the extent (or block-group) tree, dev extents
// from the dev tree.
type allocFacts struct {
	bgs      []bgRec
	chunks   []chunkRec
	devExts  []devExtRec
	devItems []devItemRec
}

type bgRec struct {
	start, length, used, flags uint64
	at                         loc
}

func (b *bgRec) end() uint64 { return addSat(b.start, b.length) }

type chunkRec struct {
	start uint64
	c     *format.ChunkItem
	at    loc
}

type devExtRec struct {
	devid, phys, length, chunk uint64
	at                         loc
	claimed                    bool // a chunk stripe names it
}

func (d *devExtRec) end() uint64 { return addSat(d.phys, d.length) }

type devItemRec struct {
	d  *format.DevItem
	at loc
}

func (f *allocFacts) blockGroup(at loc, data []byte) {
	bg, err := format.DecodeBlockGroupItem(data)
	if err != nil {
		return
	}
	f.bgs = append(f.bgs, bgRec{start: at.key.ObjectID, length: at.key.Offset, used: bg.Used, flags: bg.Flags, at: at})
}

func (f *allocFacts) chunkTreeItem(at loc, data []byte) {
	switch at.key.Type {
	case format.ChunkItemKey:
		if c, err := format.DecodeChunkItem(data); err == nil {
			f.chunks = append(f.chunks, chunkRec{start: at.key.Offset, c: c, at: at})
		}
	case format.DevItemKey:
		if d, err := format.DecodeDevItem(data); err == nil {
			f.devItems = append(f.devItems, devItemRec{d: d, at: at})
		}
	}
}

func (f *allocFacts) devExtent(at loc, data []byte) {
	de, err := format.DecodeDevExtent(data)
	if err != nil {
		return
	}
	f.devExts = append(f.devExts, devExtRec{devid: at.key.ObjectID, phys: at.key.Offset, length: de.Length,
		chunk: de.ChunkOffset, at: at})
}

// bgTree is the tree holding the block groups.
func (r *run) bgTree() uint64 {
	if r.img.Super.CompatRoFlags&format.CompatRoBlockGroupTree != 0 {
		return format.BlockGroupTreeObjectID
	}
	return format.ExtentTreeObjectID
}

// checkAllocation compares chunks, block groups, dev extents and devices
// (#54–#56).
func (r *run) checkAllocation() {
	if !r.x.complete(format.ChunkTreeObjectID, r.bgTree(), format.DevTreeObjectID) {
		r.skipped("chunks, block groups, dev extents", "#54–#56")
		return
	}
	r.chunksVsBlockGroups()
	r.sysChunkArray()
	r.chunksVsDevExtents()
	r.devExtentPlacement()
	r.devices()
}

// chunksVsBlockGroups pairs chunks and block groups by start (#54): same
// length and flags, neither without the other, no overlapping groups.
func (r *run) chunksVsBlockGroups() {
	f := &r.x.alloc
	i, j := 0, 0
	for i < len(f.chunks) || j < len(f.bgs) {
		switch {
		case j == len(f.bgs) || (i < len(f.chunks) && f.chunks[i].start < f.bgs[j].start):
			c := &f.chunks[i]
			r.xadd(KindAllocation, 54, c.at, "chunk %d (%s) has no block group item", c.start, blockGroupName(c.c.Type))
			i++
		case i == len(f.chunks) || f.bgs[j].start < f.chunks[i].start:
			b := &f.bgs[j]
			r.xadd(KindAllocation, 54, b.at, "block group %d has no chunk", b.start)
			j++
		default:
			r.chunkBlockGroup(&f.chunks[i], &f.bgs[j])
			i, j = i+1, j+1
		}
	}
	for j := 1; j < len(f.bgs); j++ {
		if p, b := &f.bgs[j-1], &f.bgs[j]; b.start < p.end() {
			r.xadd(KindAllocation, 54, b.at, "block group [%d, %d) overlaps block group [%d, %d)", b.start, b.end(), p.start, p.end())
		}
	}
}

func (r *run) chunkBlockGroup(c *chunkRec, b *bgRec) {
	if c.c.Length != b.length {
		r.xadd(KindAllocation, 54, b.at, "block group length %d, chunk %d is %d long", b.length, c.start, c.c.Length)
	}
	if c.c.Type != b.flags {
		r.xadd(KindAllocation, 54, b.at, "block group flags 0x%x, chunk %d has type 0x%x", b.flags, c.start, c.c.Type)
	}
}

// sysChunkArray checks that the superblock's sys_chunk_array holds exactly
// the chunk tree's SYSTEM chunks (§2.7; btrfs check does not compare them).
func (r *run) sysChunkArray() {
	sys, err := r.img.Super.SysChunks()
	if err != nil {
		return // the superblock rules (#9) report it
	}
	inArray := map[uint64]*format.ChunkItem{}
	for _, s := range sys {
		inArray[s.Key.Offset] = s.Chunk
	}
	for i := range r.x.alloc.chunks {
		c := &r.x.alloc.chunks[i]
		a, ok := inArray[c.start]
		delete(inArray, c.start)
		switch {
		case c.c.Type&format.BlockGroupSystem == 0:
		case !ok:
			r.xadd(KindAllocation, 54, c.at, "SYSTEM chunk %d is missing from the superblock's sys_chunk_array", c.start)
		case !sameChunk(a, c.c):
			r.xadd(KindAllocation, 54, c.at, "SYSTEM chunk %d differs from its sys_chunk_array copy", c.start)
		}
	}
	for start := range inArray {
		r.xadd(KindAllocation, 54, superLoc(), "sys_chunk_array chunk %d is not in the chunk tree", start)
	}
}

func sameChunk(a, b *format.ChunkItem) bool {
	return a.Length == b.Length && a.Type == b.Type && slices.Equal(a.Stripes, b.Stripes)
}

// stripeLength is the length of each stripe's dev extent for a chunk.
func stripeLength(c *format.ChunkItem) uint64 {
	n := uint64(len(c.Stripes))
	data := n
	switch c.Type & format.BlockGroupProfileMask {
	case 0, format.BlockGroupDup, format.BlockGroupRaid1, format.BlockGroupRaid1C3, format.BlockGroupRaid1C4:
		data = 1
	case format.BlockGroupRaid10:
		data = n / max(uint64(c.SubStripes), 1)
	case format.BlockGroupRaid5:
		data = n - 1
	case format.BlockGroupRaid6:
		data = n - 2
	}
	if data == 0 || data > n {
		return c.Length
	}
	return c.Length / data
}
