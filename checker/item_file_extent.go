package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// checkFileExtent applies #25 to an EXTENT_DATA item.
func checkFileExtent(it *item) *Error {
	const rule = RuleFileExtent
	if !it.ctx.aligned(it.key.Offset) {
		return it.badHE(rule, "unaligned file_offset for file extent", it.key.Offset, alignedTo(it.ctx.SectorSize))
	}
	if e := it.prevIno(rule); e != nil {
		return e
	}
	b := it.data
	if len(b) < format.FileExtentInlineHeader {
		return it.badHE(rule, "invalid item size", len(b), fmt.Sprintf("at least %d", format.FileExtentInlineHeader))
	}
	typ, comp, enc := b[20], b[16], b[17]
	switch {
	case typ > format.FileExtentPrealloc:
		return it.badHE(rule, "invalid type for file extent", typ, "range [0, 2]")
	case comp > format.CompressZstd:
		return it.badHE(rule, "invalid compression for file extent", comp, "range [0, 3]")
	case enc != 0:
		return it.badHE(rule, "invalid encryption for file extent", enc, 0)
	case typ == format.FileExtentInline:
		return checkInlineExtent(it)
	}
	return checkRegExtent(it)
}

// checkInlineExtent: offset 0; an uncompressed one holds exactly ram_bytes.
func checkInlineExtent(it *item) *Error {
	if it.key.Offset != 0 {
		return it.badHE(RuleFileExtent, "invalid file_offset for inline file extent", it.key.Offset, 0)
	}
	if it.data[16] != format.CompressNone {
		return nil // compressed: the item holds the compressed bytes
	}
	ram := le.Uint64(it.data[8:])
	if ram > uint64(len(it.data)) || uint64(len(it.data)) != format.FileExtentInlineHeader+ram {
		return it.badHE(RuleFileExtent, "invalid ram_bytes for uncompressed inline extent",
			len(it.data), addSat(format.FileExtentInlineHeader, ram))
	}
	return nil
}

// checkRegExtent: 53 bytes, every size and address sector-aligned, no
// overflow, no overlap with the previous extent of the same inode.
func checkRegExtent(it *item) *Error {
	const rule = RuleFileExtent
	if len(it.data) != format.FileExtentRegSize {
		return it.badHE(rule, "invalid item size for reg/prealloc file extent", len(it.data), format.FileExtentRegSize)
	}
	fe, _ := format.DecodeFileExtent(it.data)
	for _, f := range []struct {
		name string
		v    uint64
	}{{"ram_bytes", fe.RAMBytes}, {"disk_bytenr", fe.DiskBytenr}, {"disk_num_bytes", fe.DiskNumBytes},
		{"offset", fe.Offset}, {"num_bytes", fe.NumBytes}} {
		if !it.ctx.aligned(f.v) {
			return it.badHE(rule, "invalid "+f.name+" for file extent", f.v, alignedTo(it.ctx.SectorSize))
		}
	}
	if fe.Offset+fe.NumBytes < fe.Offset {
		return it.badHE(rule, "invalid file extent offset + num_bytes, overflow",
			fmt.Sprintf("offset %d num_bytes %d", fe.Offset, fe.NumBytes), "a sum below 2^64")
	}
	return checkExtentOverlap(it)
}

// checkExtentOverlap: the previous extent of the same inode in this leaf
// must end at or before this one starts (an inline extent's end is rounded
// up to a sector).
func checkExtentOverlap(it *item) *Error {
	p, b := it.prev, it.prevData
	if p == nil || p.ObjectID != it.key.ObjectID || p.Type != format.ExtentDataKey || len(b) < format.FileExtentInlineHeader {
		return nil
	}
	var end uint64
	switch {
	case b[20] == format.FileExtentInline:
		end = roundUp(addSat(p.Offset, le.Uint64(b[8:])), it.ctx.SectorSize)
	case len(b) == format.FileExtentRegSize:
		end = addSat(p.Offset, le.Uint64(b[45:]))
	default:
		return nil
	}
	if end > it.key.Offset {
		return it.bad(RuleFileExtent, "file extent end range (%d) goes beyond start offset (%d) of the next file extent",
			end, it.key.Offset)
	}
	return nil
}

// roundUp rounds v up to a multiple of a, saturating at 2^64-1.
func roundUp(v uint64, a uint32) uint64 {
	if a == 0 || v%uint64(a) == 0 {
		return v
	}
	return addSat(v, uint64(a)-v%uint64(a))
}
