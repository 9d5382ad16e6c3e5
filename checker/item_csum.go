package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// checkCsumItem applies #26 to an EXTENT_CSUM item.
func checkCsumItem(it *item) *Error {
	const rule = RuleCsumItem
	cs := it.ctx.csumSize()
	switch {
	case it.key.ObjectID != format.ExtentCsumObjectID:
		return it.badHE(rule, "invalid key objectid for csum item", it.key.ObjectID, format.ExtentCsumObjectID)
	case !it.ctx.aligned(it.key.Offset):
		return it.badHE(rule, "unaligned key offset for csum item", it.key.Offset, alignedTo(it.ctx.SectorSize))
	case len(it.data)%cs != 0:
		return it.badHE(rule, "unaligned item size for csum item", len(it.data), fmt.Sprintf("a multiple of %d", cs))
	}
	p := it.prev
	if p == nil || p.Type != format.ExtentCsumKey || it.prevData == nil {
		return nil
	}
	end := addSat(p.Offset, uint64(len(it.prevData)/cs)*uint64(it.ctx.SectorSize))
	if end > it.key.Offset {
		return it.bad(rule, "csum end range (%d) goes beyond the start range (%d) of the next csum item",
			end, it.key.Offset)
	}
	return nil
}
