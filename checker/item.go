package checker

import (
	"encoding/binary"
	"fmt"

	"cowfs/disk/format"
)

var le = binary.LittleEndian

// item is one leaf slot as the item rules (#25–#36) see it. data lies inside
// the leaf; prev is the previous slot's key (nil in slot 0) and prevData its
// data when that slot's layout is sound.
type item struct {
	ctx      *Context
	root     uint64 // header owner
	block    uint64
	slot     int
	key      format.Key
	data     []byte
	prev     *format.Key
	prevData []byte
}

// itemCheck returns the first problem of an item, or nil.
type itemCheck func(it *item) *Error

var itemChecks = map[uint8]itemCheck{
	format.ExtentDataKey:     checkFileExtent,
	format.ExtentCsumKey:     checkCsumItem,
	format.DirItemKey:        checkDirItem,
	format.DirIndexKey:       checkDirItem,
	format.XattrItemKey:      checkDirItem,
	format.InodeRefKey:       checkInodeRef,
	format.InodeExtrefKey:    checkInodeExtref,
	format.InodeItemKey:      checkInodeItem,
	format.RootItemKey:       checkRootItem,
	format.ExtentItemKey:     checkExtentItem,
	format.MetadataItemKey:   checkExtentItem,
	format.TreeBlockRefKey:   checkKeyedRef,
	format.SharedBlockRefKey: checkKeyedRef,
	format.SharedDataRefKey:  checkKeyedRef,
	format.ExtentDataRefKey:  checkExtentDataRef,
	format.BlockGroupItemKey: checkBlockGroup,
	format.DevItemKey:        checkDevItem,
	format.DevExtentKey:      checkDevExtent,
	format.ChunkItemKey:      checkChunkItem,
}

// checkItem runs the rule of the item's key type; other types pass.
func checkItem(it *item) *Error {
	if f, ok := itemChecks[it.key.Type]; ok {
		return f(it)
	}
	return nil
}

// bad builds a leaf error for this item.
func (it *item) bad(rule int, msg string, args ...any) *Error {
	return &Error{Rule: rule, Kind: KindLeaf, Root: it.root, Block: it.block, Slot: it.slot,
		Key: keyPtr(it.key), Reason: fmt.Sprintf(msg, args...)}
}

// badHE is bad with Have and Expect.
func (it *item) badHE(rule int, reason string, have, expect any) *Error {
	return it.bad(rule, "%s", reason).WithHE(have, expect)
}

// prevIno checks that in a subvolume tree the previous item belongs to the
// same inode: its INODE_ITEM must come first. Log trees are exempt.
func (it *item) prevIno(rule int) *Error {
	if it.prev == nil || !format.IsSubvolumeID(it.root) || it.prev.ObjectID == it.key.ObjectID {
		return nil
	}
	return it.badHE(rule, "invalid previous key objectid", it.prev.ObjectID, it.key.ObjectID)
}

// validInodeID reports whether id may number an inode: 256..-256, the root
// tree directory (6) or the obsolete free-ino inode (-12).
func validInodeID(id uint64) bool {
	return (id >= format.FirstFreeObjectID && id <= format.LastFreeObjectID) ||
		id == format.RootTreeDirObjectID || id == format.FreeInoObjectID
}

const inodeIDRange = "6 or [256, 18446744073709551360] or 18446744073709551604"

// validDataRefRoot reports whether a data backref may name root: a
// subvolume, one of the relocation trees, or the root tree (whose v1
// space-cache inodes own data extents, kernel 6.18 on images of 2 GiB and
// more without a free-space tree).
func validDataRefRoot(root uint64) bool {
	return format.IsSubvolumeID(root) || root == format.DataRelocTreeObjectID ||
		root == format.TreeRelocObjectID || root == format.RootTreeObjectID
}
