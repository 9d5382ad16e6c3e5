package checker

import (
	"cowfs/disk/format"
)

const devExtentSize = 48

// checkDevItem applies #34 to a DEV_ITEM.
func checkDevItem(it *item) *Error {
	const rule = RuleDevItem
	switch {
	case it.key.ObjectID != format.DevItemsObjectID:
		return it.badHE(rule, "invalid objectid", it.key.ObjectID, format.DevItemsObjectID)
	case len(it.data) != format.DevItemSize:
		return it.badHE(rule, "invalid item size", len(it.data), format.DevItemSize)
	}
	d, _ := format.DecodeDevItem(it.data)
	switch {
	case d.DevID != it.key.Offset:
		return it.badHE(rule, "devid mismatch", d.DevID, it.key.Offset)
	case d.BytesUsed > d.TotalBytes:
		return it.badHE(rule, "invalid bytes used", d.BytesUsed, "at most total_bytes "+itoa(d.TotalBytes))
	}
	return nil
}

// checkDevExtent applies #35 to a DEV_EXTENT.
func checkDevExtent(it *item) *Error {
	const rule = RuleDevExtent
	al := alignedTo(it.ctx.SectorSize)
	if !it.ctx.aligned(it.key.Offset) {
		return it.badHE(rule, "invalid dev extent key.offset", it.key.Offset, al)
	}
	if len(it.data) != devExtentSize {
		return it.badHE(rule, "invalid item size", len(it.data), devExtentSize)
	}
	de, _ := format.DecodeDevExtent(it.data)
	switch {
	case de.ChunkTree != format.ChunkTreeObjectID:
		return it.badHE(rule, "invalid dev extent chunk tree id", de.ChunkTree, format.ChunkTreeObjectID)
	case de.ChunkObjectID != format.FirstChunkTreeObjectID:
		return it.badHE(rule, "invalid dev extent chunk objectid", de.ChunkObjectID, format.FirstChunkTreeObjectID)
	case !it.ctx.aligned(de.ChunkOffset):
		return it.badHE(rule, "invalid dev extent chunk offset", de.ChunkOffset, al)
	case !it.ctx.aligned(de.Length):
		return it.badHE(rule, "invalid dev extent length", de.Length, al)
	}
	return checkDevExtentOverlap(it)
}

// checkDevExtentOverlap: the previous dev extent of the same device must end
// at or before this one starts.
func checkDevExtentOverlap(it *item) *Error {
	p := it.prev
	if p == nil || p.ObjectID != it.key.ObjectID || p.Type != format.DevExtentKey || len(it.prevData) != devExtentSize {
		return nil
	}
	plen := le.Uint64(it.prevData[24:])
	if addSat(p.Offset, plen) > it.key.Offset {
		return it.bad(RuleDevExtent, "dev extent overlap, prev offset %d len %d current offset %d",
			p.Offset, plen, it.key.Offset)
	}
	return nil
}
