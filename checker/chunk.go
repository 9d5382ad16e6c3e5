package checker

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"cowfs/disk/format"
)

// CheckChunk applies the chunk rules (#36) to the chunk at key.Offset, as
// stored in the chunk tree or the sys_chunk_array. It returns an *Error of
// kind KindChunk, or nil.
func CheckChunk(key format.Key, c *format.ChunkItem, ctx Context) error {
	if e := checkChunk(key, c, &ctx); e != nil {
		return e
	}
	return nil
}

// chunkLengthLimit keeps the number of stripes of a chunk within a u32.
const chunkLengthLimit = uint64(math.MaxUint32) << 16

// checkChunk returns the first #36 problem; callers relocate the error.
func checkChunk(key format.Key, c *format.ChunkItem, ctx *Context) *Error {
	for _, f := range []func(format.Key, *format.ChunkItem, *Context) *Error{
		chunkStripeCount, chunkGeometry, chunkType, chunkProfileStripes,
	} {
		if e := f(key, c, ctx); e != nil {
			return e
		}
	}
	return nil
}

func chunkErr(key format.Key, reason string, have, expect any) *Error {
	e := &Error{Rule: RuleChunk, Kind: KindChunk, Slot: -1, Key: keyPtr(key), Reason: reason}
	if have != nil || expect != nil {
		e.WithHE(have, expect)
	}
	return e
}

// profile describes a RAID profile: copies of each byte and parity stripes.
type profile struct{ ncopies, nparity int }

var profiles = map[uint64]profile{
	0: {1, 0}, format.BlockGroupDup: {2, 0}, format.BlockGroupRaid0: {1, 0},
	format.BlockGroupRaid1: {2, 0}, format.BlockGroupRaid1C3: {3, 0},
	format.BlockGroupRaid1C4: {4, 0}, format.BlockGroupRaid10: {2, 0},
	format.BlockGroupRaid5: {1, 1}, format.BlockGroupRaid6: {1, 2},
}

// profileOf returns the profile of the lowest profile bit of t.
func profileOf(t uint64) profile {
	p := t & format.BlockGroupProfileMask
	return profiles[p&-p]
}

// chunkStripeCount: at least one stripe, as many as the item holds, enough
// for the profile's copies, more than its parity.
func chunkStripeCount(key format.Key, c *format.ChunkItem, _ *Context) *Error {
	n, p := int(c.NumStripes), profileOf(c.Type)
	switch {
	case n == 0:
		return chunkErr(key, "invalid chunk num_stripes", 0, "at least 1")
	case len(c.Stripes) != n:
		return chunkErr(key, "invalid chunk item size", format.ChunkItemSize(len(c.Stripes)), format.ChunkItemSize(n))
	case n < p.ncopies:
		return chunkErr(key, "invalid chunk num_stripes < ncopies", n, fmt.Sprintf("at least %d", p.ncopies))
	case p.nparity != 0 && n == p.nparity:
		return chunkErr(key, "invalid chunk num_stripes == nparity", n, fmt.Sprintf("more than %d", p.nparity))
	}
	return nil
}

// chunkGeometry: logical start, sector size, length and stripe length.
func chunkGeometry(key format.Key, c *format.ChunkItem, ctx *Context) *Error {
	logical := key.Offset
	switch {
	case !ctx.aligned(logical):
		return chunkErr(key, "invalid chunk logical", logical, alignedTo(ctx.SectorSize))
	case c.SectorSize != ctx.SectorSize:
		return chunkErr(key, "invalid chunk sectorsize", c.SectorSize, ctx.SectorSize)
	case c.Length == 0 || !ctx.aligned(c.Length):
		return chunkErr(key, "invalid chunk length", c.Length, "non-zero, "+alignedTo(ctx.SectorSize))
	case logical+c.Length < logical:
		return chunkErr(key, "invalid chunk logical start and length", fmt.Sprintf("start %d length %d", logical, c.Length), "no overflow")
	case c.StripeLen != format.StripeLen:
		return chunkErr(key, "invalid chunk stripe length", c.StripeLen, format.StripeLen)
	case c.Length >= chunkLengthLimit:
		return chunkErr(key, "chunk length too large", c.Length, fmt.Sprintf("below %d", chunkLengthLimit))
	}
	return nil
}

// chunkType: known bits, at most one profile, at least one type, SYSTEM
// alone, DATA|METADATA only with MIXED_GROUPS.
func chunkType(key format.Key, c *format.ChunkItem, ctx *Context) *Error {
	t := c.Type
	typ := t & format.BlockGroupTypeMask
	switch {
	case t&^(format.BlockGroupTypeMask|format.BlockGroupProfileMask) != 0:
		return chunkErr(key, "unrecognized chunk type", hexU(t), "mask "+hexU(format.BlockGroupTypeMask|format.BlockGroupProfileMask))
	case bits.OnesCount64(t&format.BlockGroupProfileMask) > 1:
		return chunkErr(key, "invalid chunk profile flag", hexU(t), "0 or 1 profile bit set")
	case typ == 0:
		return chunkErr(key, "missing chunk type flag", hexU(t), "one bit set in "+hexU(format.BlockGroupTypeMask))
	case typ&format.BlockGroupSystem != 0 && typ != format.BlockGroupSystem:
		return chunkErr(key, "system chunk with data or metadata type", hexU(t), "SYSTEM alone")
	case typ == format.BlockGroupData|format.BlockGroupMetadata && !ctx.hasIncompat(format.IncompatMixedGroups):
		return chunkErr(key, "mixed chunk type in non-mixed mode", hexU(t), "DATA or METADATA")
	}
	return nil
}

// chunkProfileStripes: the stripe count each profile requires.
func chunkProfileStripes(key format.Key, c *format.ChunkItem, _ *Context) *Error {
	n, sub := int(c.NumStripes), int(c.SubStripes)
	var ok bool
	switch c.Type & format.BlockGroupProfileMask {
	case 0:
		ok = n == 1
	case format.BlockGroupDup, format.BlockGroupRaid1:
		ok = n == 2
	case format.BlockGroupRaid1C3:
		ok = n == 3
	case format.BlockGroupRaid1C4:
		ok = n == 4
	case format.BlockGroupRaid10:
		ok = sub == 2 && n%sub == 0
	case format.BlockGroupRaid5:
		ok = n >= 2
	case format.BlockGroupRaid6:
		ok = n >= 3
	default: // RAID0
		ok = true
	}
	if !ok {
		return chunkErr(key, fmt.Sprintf("invalid num_stripes:sub_stripes %d:%d for profile %s", n, sub,
			hexU(c.Type&format.BlockGroupProfileMask)), nil, nil)
	}
	return nil
}

// checkChunkItem applies #36 to a CHUNK_ITEM in a leaf.
func checkChunkItem(it *item) *Error {
	b := it.data
	if len(b) < format.ChunkItemSize(0) {
		return it.badHE(RuleChunk, "invalid chunk item size", len(b), fmt.Sprintf("at least %d", format.ChunkItemSize(0)))
	}
	n := int(le.Uint16(b[44:]))
	if n != 0 && len(b) != format.ChunkItemSize(n) {
		return it.badHE(RuleChunk, "invalid chunk item size", len(b), format.ChunkItemSize(n))
	}
	if n == 0 {
		b = b[:format.ChunkItemSize(0)] // let the stripe-count rule report it
	}
	c, err := format.DecodeChunkItem(b)
	if err != nil {
		return it.bad(RuleChunk, "invalid chunk item: %v", err)
	}
	e := checkChunk(it.key, c, it.ctx)
	if e != nil {
		e.Kind, e.Root, e.Block, e.Slot = KindLeaf, it.root, it.block, it.slot
	}
	return e
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
