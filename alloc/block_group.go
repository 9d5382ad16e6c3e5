package alloc

import (
	"fmt"

	"cowfs/disk/format"
)

// BlockGroup is the in-memory state of one block group: its free space and
// the counters of btrfs's block group cache. Every byte of the group is in
// exactly one of: free, Used (an extent item exists), Reserved (allocated,
// its extent item not yet inserted), Pinned (freed, reusable once the
// freeing transaction is durable) or Super (a superblock copy's stripe).
type BlockGroup struct {
	Start, Length, Flags uint64
	Used, Reserved       uint64
	Pinned, Super        uint64

	free *freeSpace
	// dirty: Used changed since the BLOCK_GROUP_ITEM was last written.
	dirty bool
	// pending: created in the running transaction; its chunk, dev extent
	// and block group items are not in the trees yet.
	pending bool
	// Chunk is the chunk item describing the group.
	Chunk *format.ChunkItem
	// listed is what the free-space tree lists for the group: the group
	// less its extent items (nil unless Config.FreeSpaceTree);
	// listedDirty: it changed since DirtyFreeSpace last reported it.
	listed      *freeSpace
	listedDirty bool
}

// Type is the group's type bits (DATA, SYSTEM, METADATA).
func (g *BlockGroup) Type() uint64 { return g.Flags & format.BlockGroupTypeMask }

// End is the first byte after the group.
func (g *BlockGroup) End() uint64 { return g.Start + g.Length }

// FreeBytes is the group's free space.
func (g *BlockGroup) FreeBytes() uint64 { return g.free.bytes }

func (g *BlockGroup) contains(r Range) bool { return r.Start >= g.Start && r.End() <= g.End() }

func (g *BlockGroup) String() string {
	return fmt.Sprintf("block group %d len %d flags %s", g.Start, g.Length, typeName(g.Flags))
}

// check verifies the accounting identity; a failure is a bug.
func (g *BlockGroup) check() error {
	sum := g.free.bytes + g.Used + g.Reserved + g.Pinned + g.Super
	if sum != g.Length {
		return fmt.Errorf("%v: free %d + used %d + reserved %d + pinned %d + super %d = %d, length %d",
			g, g.free.bytes, g.Used, g.Reserved, g.Pinned, g.Super, sum, g.Length)
	}
	return nil
}

// GroupInfo is a snapshot of a block group's counters.
type GroupInfo struct {
	Start, Length, Flags                uint64
	Used, Reserved, Pinned, Super, Free uint64
	Pending                             bool
}

func (g *BlockGroup) info() GroupInfo {
	return GroupInfo{Start: g.Start, Length: g.Length, Flags: g.Flags, Used: g.Used,
		Reserved: g.Reserved, Pinned: g.Pinned, Super: g.Super, Free: g.free.bytes, Pending: g.pending}
}

func typeName(flags uint64) string {
	switch flags & format.BlockGroupTypeMask {
	case format.BlockGroupData:
		return "DATA"
	case format.BlockGroupSystem:
		return "SYSTEM"
	case format.BlockGroupMetadata:
		return "METADATA"
	case format.BlockGroupData | format.BlockGroupMetadata:
		return "DATA+METADATA"
	}
	return fmt.Sprintf("%#x", flags)
}
