package mkfs

import (
	"strings"

	"cowfs/disk/format"
)

// Result describes the filesystem Make wrote, for the command to print and
// for tests to check.
type Result struct {
	Fsid, ChunkUUID, DevUUID, FSTreeUUID format.UUID
	Label                                string
	TotalBytes                           uint64 // filesystem size (sector-aligned)
	BytesUsed                            uint64 // Σ block-group used = tree blocks × nodesize
	NodeSize, SectorSize                 uint32
	Csum                                 format.CsumType
	Generation                           uint64
	Chunks                               []Chunk // SYSTEM, METADATA, DATA
	Trees                                []Tree  // in address order
	SuperCopies                          []int64 // offsets of the superblock copies written
	Super                                *format.Super
}

// Chunk is one chunk and its block group. Chunks are identity-mapped on
// device 1: Physical == Logical.
type Chunk struct {
	Type     uint64 // block-group flags (DATA, SYSTEM or METADATA; SINGLE)
	Logical  uint64
	Physical uint64
	Length   uint64
	Used     uint64 // the block group's used bytes
}

// TypeName is "SYSTEM", "METADATA" or "DATA".
func (c Chunk) TypeName() string { return BlockGroupTypeName(c.Type) }

// End is the first logical byte after the chunk.
func (c Chunk) End() uint64 { return c.Logical + c.Length }

// Contains reports whether [addr, addr+n) lies inside the chunk.
func (c Chunk) Contains(addr, n uint64) bool { return addr >= c.Logical && addr+n <= c.End() }

// Tree is one tree written by mkfs: a single leaf.
type Tree struct {
	ObjectID uint64
	Name     string // dump-tree's name, e.g. "FS_TREE"
	Bytenr   uint64 // logical address of its root leaf
	Items    int
}

// BlockGroupTypeName names the type bits of block-group flags, joined by
// "|" ("DATA|METADATA" for a mixed group).
func BlockGroupTypeName(flags uint64) string {
	var parts []string
	for _, f := range []struct {
		bit  uint64
		name string
	}{{format.BlockGroupData, "DATA"}, {format.BlockGroupSystem, "SYSTEM"}, {format.BlockGroupMetadata, "METADATA"}} {
		if flags&f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "NONE"
	}
	return strings.Join(parts, "|")
}
