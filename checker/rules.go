package checker

// Rule numbers: the global numbering of btrfs-format.md §3.1–3.4. Error.Rule
// holds one of these.
const (
	// RuleInput is not a format rule: the buffer or Context cannot be judged
	// (a caller bug). Errors with this rule do not match format.ErrCorrupt.
	RuleInput = 0

	RuleSuperMagic      = 1  // magic, csum_type and superblock checksum
	RuleSuperFlags      = 2  // unknown superblock flag bits
	RuleSuperLevels     = 3  // root, chunk root and log root levels < 8
	RuleSuperSizes      = 4  // sectorsize, nodesize, leafsize
	RuleSuperAlign      = 5  // root, chunk_root, log_root aligned to sectorsize
	RuleSuperFsid       = 6  // fsid, metadata_uuid, dev_item.fsid
	RuleSuperFeatures   = 7  // BLOCK_GROUP_TREE needs FREE_SPACE_TREE_VALID and NO_HOLES
	RuleSuperCounts     = 8  // bytes_used, stripesize, num_devices, bytenr of this copy
	RuleSuperSysArray   = 9  // sys_chunk_array size and entries (entries follow #36)
	RuleSuperIncompat   = 10 // unknown incompat bits
	RuleSuperSuspicious = 11 // warnings: generation below chunk_root/cache generation

	RuleBytenr     = 12 // header bytenr == requested address
	RuleFsid       = 13 // header fsid == metadata fsid (or a seed fsid)
	RuleLevelCsum  = 14 // level < 8 and checksum matches
	RuleLevel      = 15 // level == the level expected from the parent
	RuleTransid    = 16 // generation == the generation expected from the parent
	RuleFirstKey   = 17 // first key == the parent's key for this block
	RuleOwner      = 18 // header owner fits the tree being read
	RuleLeafHeader = 19 // leaf level 0 and WRITTEN flag set
	RuleEmptyLeaf  = 20 // only some trees may have an empty leaf; owner 0 invalid
	RuleKeyOrder   = 21 // leaf keys strictly increasing
	RuleItemLayout = 22 // item headers and data inside the leaf, contiguous
	RuleNode       = 23 // node level, nritems, block pointers, key order
	RuleWriteGen   = 24 // a block written now is newer than the last commit

	RuleFileExtent = 25 // EXTENT_DATA
	RuleCsumItem   = 26 // EXTENT_CSUM
	RuleDirItem    = 27 // DIR_ITEM, DIR_INDEX, XATTR_ITEM
	RuleInodeRef   = 28 // INODE_REF, INODE_EXTREF
	RuleInodeItem  = 29 // INODE_ITEM
	RuleRootItem   = 30 // ROOT_ITEM
	RuleExtentItem = 31 // EXTENT_ITEM, METADATA_ITEM
	RuleKeyedRef   = 32 // keyed TREE_BLOCK_REF, SHARED_*_REF, EXTENT_DATA_REF
	RuleBlockGroup = 33 // BLOCK_GROUP_ITEM
	RuleDevItem    = 34 // DEV_ITEM
	RuleDevExtent  = 35 // DEV_EXTENT
	RuleChunk      = 36 // CHUNK_ITEM (and sys_chunk_array entries, reported as #9)

	// MaxRule is the highest rule number this package reports.
	MaxRule = RuleChunk
)
