package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// inlineRefMin is the smallest inline ref: a type byte and a u64.
const inlineRefMin = 9

// checkInlineRefs walks the inline refs of an extent item (#31): known types
// only, each inside the item, ordered by type ascending and sequence
// descending. It returns the sum of their counts. base is b's offset in the
// item, for messages.
func checkInlineRefs(it *item, b []byte, base int) (uint64, *Error) {
	var sum uint64
	lastType, lastSeq := uint8(0), ^uint64(0)
	for cur := 0; cur < len(b); {
		typ := b[cur]
		size := format.InlineRefSize(typ)
		switch {
		case cur+inlineRefMin > len(b):
			return 0, it.bad(RuleExtentItem, "inline ref item overflows extent item, ptr %d iref size %d end %d",
				base+cur, inlineRefMin, base+len(b))
		case size == 0:
			return 0, it.badHE(RuleExtentItem, "unknown inline ref type", typ, "176, 178, 182, 184 or 172")
		case cur+size > len(b):
			return 0, it.bad(RuleExtentItem, "inline ref item overflows extent item, ptr %d iref size %d end %d",
				base+cur, size, base+len(b))
		}
		seq, count, e := checkInlineRef(it, typ, b[cur+1:cur+size])
		if e != nil {
			return 0, e
		}
		if e := refOrder(it, typ, seq, lastType, lastSeq); e != nil {
			return 0, e
		}
		lastType, lastSeq = typ, seq
		sum = addSat(sum, count)
		cur += size
	}
	return sum, nil
}

// refOrder: types ascending; within a type, sequences descending.
func refOrder(it *item, typ uint8, seq uint64, lastType uint8, lastSeq uint64) *Error {
	if typ < lastType {
		return it.bad(RuleExtentItem, "inline ref out-of-order: has type %d, prev type %d", typ, lastType)
	}
	if typ == lastType && seq > lastSeq {
		return it.bad(RuleExtentItem, "inline ref out-of-order: has type %d seq 0x%x, prev type %d seq 0x%x",
			typ, seq, lastType, lastSeq)
	}
	return nil
}

// checkInlineRef checks one inline ref body (after its type byte) and
// returns its ordering sequence and reference count.
func checkInlineRef(it *item, typ uint8, body []byte) (seq, count uint64, e *Error) {
	const rule = RuleExtentItem
	off := le.Uint64(body)
	switch typ {
	case format.TreeBlockRefKey:
		return off, 1, nil
	case format.ExtentOwnerRefKey:
		return off, 0, nil
	case format.SharedBlockRefKey:
		if !it.ctx.aligned(off) {
			return 0, 0, it.badHE(rule, "invalid tree parent bytenr", off, alignedTo(it.ctx.SectorSize))
		}
		return off, 1, nil
	case format.SharedDataRefKey:
		if !it.ctx.aligned(off) {
			return 0, 0, it.badHE(rule, "invalid data parent bytenr", off, alignedTo(it.ctx.SectorSize))
		}
		return off, uint64(le.Uint32(body[8:])), nil
	}
	ref, _ := format.DecodeExtentDataRef(body)
	if e := checkDataRef(it, rule, "data ref", ref); e != nil {
		return 0, 0, e
	}
	return ref.Hash(), uint64(ref.Count), nil
}

// checkDataRef: the root is a subvolume or relocation tree, the inode
// number is in [256, -256], the offset is sector-aligned.
func checkDataRef(it *item, rule int, what string, ref *format.ExtentDataRef) *Error {
	switch {
	case !validDataRefRoot(ref.Root):
		return it.badHE(rule, "invalid "+what+" root value", ref.Root, "a subvolume or reloc tree id")
	case ref.ObjectID < format.FirstFreeObjectID || ref.ObjectID > format.LastFreeObjectID:
		return it.badHE(rule, "invalid "+what+" objectid value", ref.ObjectID, "[256, 18446744073709551360]")
	case !it.ctx.aligned(ref.Offset):
		return it.badHE(rule, "invalid "+what+" offset", ref.Offset, alignedTo(it.ctx.SectorSize))
	}
	return nil
}

// checkKeyedRef applies #32 to a keyed TREE_BLOCK_REF, SHARED_BLOCK_REF
// (no data) or SHARED_DATA_REF (a u32 count).
func checkKeyedRef(it *item) *Error {
	const rule = RuleKeyedRef
	want := 0
	if it.key.Type == format.SharedDataRefKey {
		want = 4
	}
	switch {
	case len(it.data) != want:
		return it.badHE(rule, "invalid item size", len(it.data), fmt.Sprintf("%d for key type %d", want, it.key.Type))
	case !it.ctx.aligned(it.key.ObjectID):
		return it.badHE(rule, "invalid key objectid for shared block ref", it.key.ObjectID, alignedTo(it.ctx.SectorSize))
	case it.key.Type != format.TreeBlockRefKey && !it.ctx.aligned(it.key.Offset):
		return it.badHE(rule, "invalid tree parent bytenr", it.key.Offset, alignedTo(it.ctx.SectorSize))
	}
	return nil
}

// checkExtentDataRef applies #32 to a keyed EXTENT_DATA_REF: whole 28-byte
// refs, each well formed. (Its key offset is a hash that may collide, so it
// is not recomputed.)
func checkExtentDataRef(it *item) *Error {
	const rule = RuleKeyedRef
	if len(it.data)%format.ExtentDataRefSize != 0 {
		return it.badHE(rule, "invalid item size", len(it.data),
			fmt.Sprintf("a multiple of %d for key type %d", format.ExtentDataRefSize, it.key.Type))
	}
	if !it.ctx.aligned(it.key.ObjectID) {
		return it.badHE(rule, "invalid key objectid for shared block ref", it.key.ObjectID, alignedTo(it.ctx.SectorSize))
	}
	for cur := 0; cur < len(it.data); cur += format.ExtentDataRefSize {
		ref, _ := format.DecodeExtentDataRef(it.data[cur : cur+format.ExtentDataRefSize])
		if e := checkDataRef(it, rule, "extent data backref", ref); e != nil {
			return e
		}
	}
	return nil
}
