package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// checkDirItem applies #27 to a DIR_ITEM, DIR_INDEX or XATTR_ITEM: every
// packed entry must fit and be well formed.
func checkDirItem(it *item) *Error {
	if e := it.prevIno(RuleDirItem); e != nil {
		return e
	}
	for cur := 0; cur < len(it.data); {
		n, e := checkDirEntry(it, it.data[cur:])
		if e != nil {
			return e
		}
		cur += n
	}
	return nil
}

// checkDirEntry checks the entry at the start of b and returns its size.
func checkDirEntry(it *item, b []byte) (int, *Error) {
	const rule = RuleDirItem
	if len(b) < format.DirEntryHeaderSize {
		return 0, it.badHE(rule, "dir item header crosses item boundary", len(b), fmt.Sprintf("at least %d", format.DirEntryHeaderSize))
	}
	if e := checkLocation(it, format.ReadKey(b)); e != nil {
		return 0, e
	}
	typ := b[29] &^ format.FtEncrypted
	if e := checkDirType(it, typ); e != nil {
		return 0, e
	}
	dataLen, nameLen := int(le.Uint16(b[25:])), int(le.Uint16(b[27:]))
	if e := checkDirLens(it, typ, nameLen, dataLen); e != nil {
		return 0, e
	}
	total := format.DirEntryHeaderSize + nameLen + dataLen
	if total > len(b) {
		return 0, it.badHE(rule, "dir item data crosses item boundary", total, fmt.Sprintf("at most %d", len(b)))
	}
	if it.key.Type != format.DirIndexKey {
		name := b[format.DirEntryHeaderSize : format.DirEntryHeaderSize+nameLen]
		if h := format.NameHash(name); h != it.key.Offset {
			return 0, it.badHE(rule, "name hash mismatch with key", hexU(h), hexU(it.key.Offset))
		}
	}
	return total, nil
}

// checkLocation: an xattr points nowhere (all-zero key); a directory entry
// points at an inode (INODE_ITEM, offset 0) or a subvolume (ROOT_ITEM).
func checkLocation(it *item, loc format.Key) *Error {
	const rule = RuleDirItem
	if it.key.Type == format.XattrItemKey {
		if loc != (format.Key{}) {
			return it.badHE(rule, "invalid location key for xattr", loc, "all zero")
		}
		return nil
	}
	switch loc.Type {
	case format.RootItemKey:
		if loc.ObjectID == 0 {
			return it.bad(rule, "invalid location key, invalid root id 0")
		}
		if !format.IsSubvolumeID(loc.ObjectID) {
			return it.badHE(rule, "invalid location key objectid", loc.ObjectID, "a subvolume id")
		}
	case format.InodeItemKey, 0:
		if !validInodeID(loc.ObjectID) {
			return it.badHE(rule, "invalid location key objectid", loc.ObjectID, inodeIDRange)
		}
		if loc.Offset != 0 {
			return it.badHE(rule, "invalid location key offset", loc.Offset, 0)
		}
	default:
		return it.badHE(rule, "invalid location key type", loc.Type,
			fmt.Sprintf("%d or %d", format.InodeItemKey, format.RootItemKey))
	}
	return nil
}

// checkDirType: type 1..8, and XATTR type exactly for XATTR_ITEM keys.
func checkDirType(it *item, typ uint8) *Error {
	const rule = RuleDirItem
	isXattrKey := it.key.Type == format.XattrItemKey
	switch {
	case typ == format.FtUnknown || typ >= format.FtMax:
		return it.badHE(rule, "invalid dir item type", typ, fmt.Sprintf("(0, %d)", format.FtMax))
	case isXattrKey && typ != format.FtXattr:
		return it.badHE(rule, "invalid dir item type for XATTR key", typ, format.FtXattr)
	case !isXattrKey && typ == format.FtXattr:
		return it.bad(rule, "xattr dir type found for non-XATTR key")
	}
	return nil
}

// checkDirLens: name at most 255 bytes, name+data within an item, data
// only for xattrs.
func checkDirLens(it *item, typ uint8, nameLen, dataLen int) *Error {
	const rule = RuleDirItem
	maxData := int(format.MaxItemSize(it.ctx.NodeSize)) - format.DirEntryHeaderSize
	switch {
	case nameLen > format.NameMax:
		return it.badHE(rule, "dir item name len too long", nameLen, fmt.Sprintf("at most %d", format.NameMax))
	case nameLen+dataLen > maxData:
		return it.badHE(rule, "dir item name and data len too long", nameLen+dataLen, fmt.Sprintf("at most %d", maxData))
	case dataLen != 0 && typ != format.FtXattr:
		return it.badHE(rule, "dir item with invalid data len", dataLen, 0)
	}
	return nil
}
