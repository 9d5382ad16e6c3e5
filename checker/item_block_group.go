package checker

import (
	"fmt"
	"math/bits"

	"cowfs/disk/format"
)

const blockGroupItemSize = 24

// checkBlockGroup applies #33 to a BLOCK_GROUP_ITEM.
func checkBlockGroup(it *item) *Error {
	const rule = RuleBlockGroup
	if it.key.Offset == 0 {
		return it.bad(rule, "invalid block group size 0")
	}
	if len(it.data) != blockGroupItemSize {
		return it.badHE(rule, "invalid item size", len(it.data), blockGroupItemSize)
	}
	bg, _ := format.DecodeBlockGroupItem(it.data)
	switch {
	case bg.ChunkObjectID != format.FirstChunkTreeObjectID:
		return it.badHE(rule, "invalid block group chunk objectid", bg.ChunkObjectID, format.FirstChunkTreeObjectID)
	case bg.Used > it.key.Offset:
		return it.badHE(rule, "invalid block group used", bg.Used, fmt.Sprintf("[0, %d]", it.key.Offset))
	}
	if n := bits.OnesCount64(bg.Flags & format.BlockGroupProfileMask); n > 1 {
		return it.badHE(rule, "invalid profile flags", fmt.Sprintf("%s (%d bits set)", hexU(bg.Flags), n), "no more than 1 bit set")
	}
	if !validBGType(bg.Flags & format.BlockGroupTypeMask) {
		return it.badHE(rule, "invalid type", hexU(bg.Flags&format.BlockGroupTypeMask), "either 0x1, 0x2, 0x4 or 0x5")
	}
	return nil
}

// validBGType: DATA, METADATA, SYSTEM or mixed DATA|METADATA.
func validBGType(t uint64) bool {
	switch t {
	case format.BlockGroupData, format.BlockGroupMetadata, format.BlockGroupSystem,
		format.BlockGroupData | format.BlockGroupMetadata:
		return true
	}
	return false
}
