package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// checkRootItem applies #30 to a ROOT_ITEM.
func checkRootItem(it *item) *Error {
	const rule = RuleRootItem
	if e := checkRootKey(it); e != nil {
		return e
	}
	if n := len(it.data); n != format.RootItemSize && n != format.RootItemLegacySize {
		return it.badHE(rule, "invalid root item size", n,
			fmt.Sprintf("%d or %d", format.RootItemSize, format.RootItemLegacySize))
	}
	ri, _ := format.DecodeRootItem(it.data) // a legacy item decodes generation_v2 as 0
	for _, g := range []struct {
		name string
		v    uint64
	}{{"generation", ri.Generation}, {"v2 generation", ri.GenerationV2}, {"last_snapshot", ri.LastSnapshot}} {
		if !it.ctx.genOK(g.v) {
			return it.badHE(rule, "invalid root "+g.name, g.v, it.ctx.genLimit())
		}
	}
	return checkRootFields(it, ri)
}

// checkRootKey: tree id 0 is invalid; a relocation tree's key offset names
// the subvolume it relocates.
func checkRootKey(it *item) *Error {
	k := it.key
	if k.ObjectID == 0 {
		return it.bad(RuleRootItem, "invalid root id 0")
	}
	if k.ObjectID == format.TreeRelocObjectID && !format.IsSubvolumeID(k.Offset) {
		return it.badHE(RuleRootItem, "invalid root id for reloc tree", k.Offset, "a subvolume id")
	}
	return nil
}

const rootFlagsKnown = format.RootSubvolRdonly | format.RootSubvolDead

// checkRootFields: bytenr aligned, levels below 8, known flags only.
func checkRootFields(it *item, ri *format.RootItem) *Error {
	const rule = RuleRootItem
	switch {
	case !it.ctx.aligned(ri.Bytenr):
		return it.badHE(rule, "invalid root bytenr", ri.Bytenr, alignedTo(it.ctx.SectorSize))
	case ri.Level >= format.MaxLevel:
		return it.badHE(rule, "invalid root level", ri.Level, "[0, 7]")
	case ri.DropLevel >= format.MaxLevel:
		return it.badHE(rule, "invalid root drop_level", ri.DropLevel, "[0, 7]")
	case ri.Flags&^rootFlagsKnown != 0:
		return it.badHE(rule, "invalid root flags", hexU(ri.Flags), "mask "+hexU(rootFlagsKnown))
	}
	return nil
}
