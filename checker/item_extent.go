package checker

import (
	"fmt"
	"math/bits"

	"cowfs/disk/format"
)

// checkExtentItem applies #31 to an EXTENT_ITEM or METADATA_ITEM.
func checkExtentItem(it *item) *Error {
	const rule = RuleExtentItem
	if e := checkExtentKey(it); e != nil {
		return e
	}
	b := it.data
	if len(b) < format.ExtentItemHeaderSize {
		return it.badHE(rule, "invalid item size", len(b), fmt.Sprintf("at least %d", format.ExtentItemHeaderSize))
	}
	refs, gen, flags := le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[16:])
	if !it.ctx.genOK(gen) {
		return it.badHE(rule, "invalid generation", gen, it.ctx.genLimit())
	}
	if e := checkExtentFlags(it, flags); e != nil {
		return e
	}
	off := format.ExtentItemHeaderSize
	if flags&format.ExtentFlagTreeBlock != 0 && it.key.Type == format.ExtentItemKey {
		if len(b) < off+format.TreeBlockInfoSize {
			return it.badHE(rule, "tree block info overflows extent item", len(b), fmt.Sprintf("at least %d", off+format.TreeBlockInfoSize))
		}
		if lv := b[off+format.KeySize]; lv >= format.MaxLevel {
			return it.badHE(rule, "invalid tree block info level", lv, "[0, 7]")
		}
		off += format.TreeBlockInfoSize
	}
	inline, e := checkInlineRefs(it, b[off:], off)
	if e != nil {
		return e
	}
	if inline > refs {
		return it.badHE(rule, "invalid extent refs", refs, fmt.Sprintf(">= inline %d", inline))
	}
	return checkExtentOverlapPrev(it)
}

// checkExtentKey: METADATA_ITEM needs SKINNY_METADATA and a level below 8;
// the bytenr is sector-aligned.
func checkExtentKey(it *item) *Error {
	const rule = RuleExtentItem
	meta := it.key.Type == format.MetadataItemKey
	switch {
	case meta && !it.ctx.hasIncompat(format.IncompatSkinnyMetadata):
		return it.bad(rule, "invalid key type, METADATA_ITEM type invalid when SKINNY_METADATA feature disabled")
	case !it.ctx.aligned(it.key.ObjectID):
		return it.badHE(rule, "invalid key objectid", it.key.ObjectID, alignedTo(it.ctx.SectorSize))
	case meta && it.key.Offset >= format.MaxLevel:
		return it.badHE(rule, "invalid tree level", it.key.Offset, "[0, 7]")
	}
	return nil
}

// checkExtentFlags: exactly one of DATA and TREE_BLOCK. A tree block's
// EXTENT_ITEM is nodesize long; data uses EXTENT_ITEM, an aligned length
// and no FULL_BACKREF.
func checkExtentFlags(it *item, flags uint64) *Error {
	const rule = RuleExtentItem
	kind := flags & (format.ExtentFlagData | format.ExtentFlagTreeBlock)
	if bits.OnesCount64(kind) != 1 {
		return it.badHE(rule, "invalid extent flag", hexU(flags), "1 bit set in 0x3")
	}
	k := it.key
	if kind == format.ExtentFlagTreeBlock {
		if k.Type == format.ExtentItemKey && k.Offset != uint64(it.ctx.NodeSize) {
			return it.badHE(rule, "invalid extent length", k.Offset, it.ctx.NodeSize)
		}
		return nil
	}
	switch {
	case k.Type != format.ExtentItemKey:
		return it.badHE(rule, "invalid key type for data backref", k.Type, format.ExtentItemKey)
	case !it.ctx.aligned(k.Offset):
		return it.badHE(rule, "invalid extent length", k.Offset, alignedTo(it.ctx.SectorSize))
	case flags&format.ExtentFlagFullBackref != 0:
		return it.bad(rule, "invalid extent flag, data has full backref set")
	}
	return nil
}

// checkExtentOverlapPrev: the previous extent item must end at or before
// this one starts.
func checkExtentOverlapPrev(it *item) *Error {
	p := it.prev
	if p == nil || (p.Type != format.ExtentItemKey && p.Type != format.MetadataItemKey) {
		return nil
	}
	length := p.Offset
	if p.Type == format.MetadataItemKey {
		length = uint64(it.ctx.NodeSize)
	}
	if addSat(p.ObjectID, length) > it.key.ObjectID {
		return it.bad(RuleExtentItem, "previous extent %v overlaps current extent %v", *p, it.key)
	}
	return nil
}
