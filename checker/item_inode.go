package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// checkInodeItem applies #29 to an INODE_ITEM.
func checkInodeItem(it *item) *Error {
	const rule = RuleInodeItem
	switch {
	case !validInodeID(it.key.ObjectID):
		return it.badHE(rule, "invalid key objectid", it.key.ObjectID, inodeIDRange)
	case it.key.Offset != 0:
		return it.badHE(rule, "invalid key offset", it.key.Offset, 0)
	case len(it.data) != format.InodeItemSize:
		return it.badHE(rule, "invalid item size", len(it.data), format.InodeItemSize)
	}
	ii, _ := format.DecodeInodeItem(it.data)
	switch {
	case !it.ctx.genOK(ii.Generation):
		return it.badHE(rule, "invalid inode generation", ii.Generation, it.ctx.genLimit())
	case !it.ctx.genOK(ii.Transid):
		return it.badHE(rule, "invalid inode transid", ii.Transid, it.ctx.genLimit())
	}
	if e := checkInodeMode(it, ii); e != nil {
		return e
	}
	return checkInodeFlags(it, ii.Flags)
}

// File type bits of an inode mode.
const (
	sIFMT   = 0o170000
	sIFDIR  = 0o040000
	modeOK  = sIFMT | 0o7777
	modeFmt = "0%o"
)

var validIFMT = map[uint32]bool{
	0o010000: true, 0o020000: true, sIFDIR: true, 0o060000: true,
	0o100000: true, 0o120000: true, 0o140000: true,
}

// checkInodeMode: only permission and type bits, one valid S_IFMT, and a
// directory has at most one link.
func checkInodeMode(it *item, ii *format.InodeItem) *Error {
	mode := ii.Mode
	if mode&^modeOK != 0 || !validIFMT[mode&sIFMT] {
		return it.badHE(RuleInodeItem, "invalid mode", fmt.Sprintf(modeFmt, mode), "valid S_IF* bit(s)")
	}
	if mode&sIFMT == sIFDIR && ii.Nlink > 1 {
		return it.badHE(RuleInodeItem, "invalid nlink", ii.Nlink, "no more than 1 for dir")
	}
	return nil
}

// checkInodeFlags: no unknown flag; unknown read-only-compat flags only on
// a read-only mount.
func checkInodeFlags(it *item, flags uint64) *Error {
	if bad := flags & 0xffffffff &^ format.InodeFlagsKnown; bad != 0 {
		return it.badHE(RuleInodeItem, "unknown incompat flags detected", hexU(bad), "none")
	}
	if bad := flags &^ 0xffffffff &^ format.InodeRoFlagsKnown; bad != 0 && !it.ctx.ReadOnly {
		return it.badHE(RuleInodeItem, "unknown ro-compat flags detected on writeable mount", hexU(bad>>32), "none")
	}
	return nil
}

// Fixed part of an INODE_REF (index, name_len) and an INODE_EXTREF entry
// (parent, index, name_len).
const (
	inodeRefHeader    = 10
	inodeExtrefHeader = 18
)

// checkInodeRef applies #28 to an INODE_REF: non-empty, every name inside.
func checkInodeRef(it *item) *Error {
	if e := it.prevIno(RuleInodeRef); e != nil {
		return e
	}
	if len(it.data) <= inodeRefHeader {
		return it.badHE(RuleInodeRef, "invalid item size", len(it.data), fmt.Sprintf("more than %d", inodeRefHeader))
	}
	return checkRefEntries(it, "inode ref", inodeRefHeader)
}

// checkInodeExtref applies #28 to an INODE_EXTREF.
func checkInodeExtref(it *item) *Error {
	if e := it.prevIno(RuleInodeRef); e != nil {
		return e
	}
	if len(it.data) <= inodeExtrefHeader {
		return it.badHE(RuleInodeRef, "invalid item size", len(it.data), fmt.Sprintf("more than %d", inodeExtrefHeader))
	}
	return checkRefEntries(it, "inode extref", inodeExtrefHeader)
}

// checkRefEntries walks packed {header with name_len in its last 2 bytes,
// name} entries and checks that each fits in the item.
func checkRefEntries(it *item, what string, hdr int) *Error {
	b := it.data
	for cur := 0; cur < len(b); {
		if cur+hdr > len(b) {
			return it.bad(RuleInodeRef, "%s overflow, ptr %d end %d %s header size %d", what, cur, len(b), what, hdr)
		}
		n := int(le.Uint16(b[cur+hdr-2:]))
		if cur+hdr+n > len(b) {
			return it.bad(RuleInodeRef, "%s overflow, ptr %d end %d namelen %d", what, cur, len(b), n)
		}
		cur += hdr + n
	}
	return nil
}
