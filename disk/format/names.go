package format

import "fmt"

var keyTypeNames = map[uint8]string{
	InodeItemKey: "INODE_ITEM", InodeRefKey: "INODE_REF", InodeExtrefKey: "INODE_EXTREF",
	XattrItemKey: "XATTR_ITEM", VerityDescKey: "VERITY_DESC_ITEM", VerityMerkleKey: "VERITY_MERKLE_ITEM",
	OrphanItemKey: "ORPHAN_ITEM", DirLogItemKey: "DIR_LOG_ITEM", DirLogIndexKey: "DIR_LOG_INDEX",
	DirItemKey: "DIR_ITEM", DirIndexKey: "DIR_INDEX", ExtentDataKey: "EXTENT_DATA",
	ExtentCsumKey: "EXTENT_CSUM", RootItemKey: "ROOT_ITEM", RootBackrefKey: "ROOT_BACKREF",
	RootRefKey: "ROOT_REF", ExtentItemKey: "EXTENT_ITEM", MetadataItemKey: "METADATA_ITEM",
	ExtentOwnerRefKey: "EXTENT_OWNER_REF", TreeBlockRefKey: "TREE_BLOCK_REF",
	ExtentDataRefKey: "EXTENT_DATA_REF", SharedBlockRefKey: "SHARED_BLOCK_REF",
	SharedDataRefKey: "SHARED_DATA_REF", BlockGroupItemKey: "BLOCK_GROUP_ITEM",
	FreeSpaceInfoKey: "FREE_SPACE_INFO", FreeSpaceExtentKey: "FREE_SPACE_EXTENT",
	FreeSpaceBitmapKey: "FREE_SPACE_BITMAP", DevExtentKey: "DEV_EXTENT", DevItemKey: "DEV_ITEM",
	ChunkItemKey: "CHUNK_ITEM", RaidStripeKey: "RAID_STRIPE", QgroupStatusKey: "QGROUP_STATUS",
	QgroupInfoKey: "QGROUP_INFO", QgroupLimitKey: "QGROUP_LIMIT", QgroupRelationKey: "QGROUP_RELATION",
	TemporaryItemKey: "TEMPORARY_ITEM", PersistentItemKey: "PERSISTENT_ITEM",
	DevReplaceKey: "DEV_REPLACE", UUIDKeySubvol: "UUID_KEY_SUBVOL",
	UUIDKeyReceivedSubvol: "UUID_KEY_RECEIVED_SUBVOL", StringItemKey: "STRING_ITEM",
}

// KeyTypeString names a key type as dump-tree does (UNKNOWN.n otherwise).
func KeyTypeString(t uint8) string {
	if t == 0 {
		return "UNKNOWN.0"
	}
	if s, ok := keyTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("UNKNOWN.%d", t)
}

var treeNames = map[uint64]string{
	RootTreeObjectID: "ROOT_TREE", ExtentTreeObjectID: "EXTENT_TREE",
	ChunkTreeObjectID: "CHUNK_TREE", DevTreeObjectID: "DEV_TREE",
	FSTreeObjectID: "FS_TREE", RootTreeDirObjectID: "ROOT_TREE_DIR",
	CsumTreeObjectID: "CSUM_TREE", QuotaTreeObjectID: "QUOTA_TREE",
	UUIDTreeObjectID: "UUID_TREE", FreeSpaceTreeObjectID: "FREE_SPACE_TREE",
	BlockGroupTreeObjectID: "BLOCK_GROUP_TREE", RaidStripeTreeObjectID: "RAID_STRIPE_TREE",
	BalanceObjectID: "BALANCE", OrphanObjectID: "ORPHAN", TreeLogObjectID: "TREE_LOG",
	TreeLogFixupObjectID: "TREE_LOG_FIXUP", TreeRelocObjectID: "TREE_RELOC",
	DataRelocTreeObjectID: "DATA_RELOC_TREE", ExtentCsumObjectID: "EXTENT_CSUM",
	FreeSpaceObjectID: "FREE_SPACE", FreeInoObjectID: "FREE_INO",
	MultipleObjectIDs: "MULTIPLE",
}

// TreeName names a tree objectid as dump-tree does in headers ("FS_TREE").
func TreeName(id uint64) string {
	if s, ok := treeNames[id]; ok {
		return s
	}
	return fmt.Sprintf("%d", id)
}

// ObjectIDString names a key's objectid as dump-tree does; the key type
// decides between the overloaded small ids (1 is DEV_ITEMS in the chunk tree,
// 256 is FIRST_CHUNK_TREE for chunk items).
func ObjectIDString(id uint64, typ uint8) string {
	switch {
	case typ == DevItemKey && id == DevItemsObjectID:
		return "DEV_ITEMS"
	case typ == ChunkItemKey && id == FirstChunkTreeObjectID:
		return "FIRST_CHUNK_TREE"
	case typ == PersistentItemKey && id == DevStatsObjectID:
		return "DEV_STATS"
	case typ == UUIDKeySubvol || typ == UUIDKeyReceivedSubvol:
		return fmt.Sprintf("0x%016x", id)
	case id == 0 || (id >= FirstFreeObjectID && id <= LastFreeObjectID):
		return fmt.Sprintf("%d", id)
	}
	return TreeName(id)
}
