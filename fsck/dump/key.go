package dump

import (
	"fmt"

	"cowfs/disk/format"
)

// Obsolete key types dump-tree still names (format has no constants for
// them: nothing writes them any more).
const (
	csumItemKey    uint8 = 120
	extentRefV0Key uint8 = 180
)

// Key types that btrfs-progs 6.2 names differently from format.KeyTypeString:
// two obsolete types it still knows, and two newer ones it does not.
var keyTypeOverride = map[uint8]string{
	csumItemKey:              "CSUM_ITEM",
	extentRefV0Key:           "EXTENT_REF_V0",
	format.ExtentOwnerRefKey: "UNKNOWN.172",
	format.RaidStripeKey:     "UNKNOWN.230",
}

// KeyType names a key type as dump-tree does. The objectid matters only for
// the v1 free-space cache header, whose type 0 prints as UNTYPED.
func KeyType(objectid uint64, typ uint8) string {
	if typ == 0 && objectid == format.FreeSpaceObjectID {
		return "UNTYPED"
	}
	if s, ok := keyTypeOverride[typ]; ok {
		return s
	}
	return format.KeyTypeString(typ)
}

// objectNames are the objectids dump-tree prints by name whatever the key
// type. 1 and 256 depend on the type and are handled in ObjectID.
var objectNames = map[uint64]string{
	format.ExtentTreeObjectID:     "EXTENT_TREE",
	format.ChunkTreeObjectID:      "CHUNK_TREE",
	format.DevTreeObjectID:        "DEV_TREE",
	format.FSTreeObjectID:         "FS_TREE",
	format.RootTreeDirObjectID:    "ROOT_TREE_DIR",
	format.CsumTreeObjectID:       "CSUM_TREE",
	format.QuotaTreeObjectID:      "QUOTA_TREE",
	format.UUIDTreeObjectID:       "UUID_TREE",
	format.FreeSpaceTreeObjectID:  "FREE_SPACE_TREE",
	format.BlockGroupTreeObjectID: "BLOCK_GROUP_TREE",
	format.BalanceObjectID:        "BALANCE",
	format.OrphanObjectID:         "ORPHAN",
	format.TreeLogObjectID:        "TREE_LOG",
	format.TreeLogFixupObjectID:   "LOG_FIXUP",
	format.TreeRelocObjectID:      "TREE_RELOC",
	format.DataRelocTreeObjectID:  "DATA_RELOC_TREE",
	format.ExtentCsumObjectID:     "EXTENT_CSUM",
	format.FreeSpaceObjectID:      "FREE_SPACE",
	format.FreeInoObjectID:        "FREE_INO",
	format.MultipleObjectIDs:      "MULTIPLE",
	^uint64(0):                    "-1",
}

// ObjectID names an objectid as dump-tree does; typ is the key type it
// appears with (0 for tree owners and backref roots).
func ObjectID(id uint64, typ uint8) string {
	switch typ {
	case format.PersistentItemKey:
		if id == format.DevStatsObjectID {
			return "DEV_STATS"
		}
		return fmt.Sprint(id)
	case format.DevExtentKey:
		return fmt.Sprint(id)
	case format.QgroupRelationKey:
		return qgroupID(id)
	case format.UUIDKeySubvol, format.UUIDKeyReceivedSubvol:
		return fmt.Sprintf("0x%016x", id)
	}
	switch {
	case id == format.RootTreeObjectID && typ == format.DevItemKey:
		return "DEV_ITEMS"
	case id == format.RootTreeObjectID:
		return "ROOT_TREE"
	case id == format.FirstChunkTreeObjectID && typ == format.ChunkItemKey:
		return "FIRST_CHUNK_TREE"
	}
	if s, ok := objectNames[id]; ok {
		return s
	}
	return fmt.Sprint(id)
}

// qgroupID prints a qgroup id as level/subvolume id.
func qgroupID(v uint64) string { return fmt.Sprintf("%d/%d", v>>48, v&(1<<48-1)) }

// keyOffset prints a key's offset as dump-tree does for its type.
func keyOffset(k format.Key) string {
	switch k.Type {
	case format.QgroupRelationKey, format.QgroupInfoKey, format.QgroupLimitKey:
		return qgroupID(k.Offset)
	case format.UUIDKeySubvol, format.UUIDKeyReceivedSubvol:
		return fmt.Sprintf("0x%016x", k.Offset)
	case format.RootItemKey:
		if k.ObjectID == format.TreeRelocObjectID {
			return ObjectID(k.Offset, k.Type)
		}
		return fmt.Sprint(k.Offset)
	}
	if k.Offset == ^uint64(0) {
		return "-1"
	}
	return fmt.Sprint(k.Offset)
}

// Key prints a key as dump-tree does: "key (256 INODE_ITEM 0)".
func Key(k format.Key) string {
	return fmt.Sprintf("key (%s %s %s)", ObjectID(k.ObjectID, k.Type), KeyType(k.ObjectID, k.Type), keyOffset(k))
}
