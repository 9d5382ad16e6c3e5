package format

// Sizes and offsets of the fixed parts of the format.
const (
	SuperInfoOffset  = 0x10000 // primary superblock, 64 KiB
	SuperSize        = 4096
	SuperMirrorMax   = 3 // primary + two mirrors
	Magic            = 0x4D5F53665248425F
	CsumFieldSize    = 32
	UUIDSize         = 16
	KeySize          = 17
	HeaderSize       = 101
	ItemHeaderSize   = 25 // key + offset u32 + size u32
	KeyPtrSize       = 33 // key + blockptr u64 + generation u64
	MaxLevel         = 8
	NameMax          = 255
	StripeLen        = 64 * 1024
	ReservedBytes    = 1 << 20 // first MiB of every device is never allocated
	MaxInline        = 2048    // the kernel's default max_inline
	BackrefRev       = 1       // MIXED_BACKREF_REV, the header flags' top byte
	SysChunkArrayMax = 2048
)

// MirrorOffset returns the physical offset of superblock copy i (0 is the
// primary): 64 KiB, 64 MiB, 256 GiB.
func MirrorOffset(i int) int64 {
	if i == 0 {
		return SuperInfoOffset
	}
	return int64(16*1024) << (12 * i)
}

// Key types (§2.6).
const (
	InodeItemKey          uint8 = 1
	InodeRefKey           uint8 = 12
	InodeExtrefKey        uint8 = 13
	XattrItemKey          uint8 = 24
	VerityDescKey         uint8 = 36
	VerityMerkleKey       uint8 = 37
	OrphanItemKey         uint8 = 48
	DirLogItemKey         uint8 = 60
	DirLogIndexKey        uint8 = 72
	DirItemKey            uint8 = 84
	DirIndexKey           uint8 = 96
	ExtentDataKey         uint8 = 108
	ExtentCsumKey         uint8 = 128
	RootItemKey           uint8 = 132
	RootBackrefKey        uint8 = 144
	RootRefKey            uint8 = 156
	ExtentItemKey         uint8 = 168
	MetadataItemKey       uint8 = 169
	ExtentOwnerRefKey     uint8 = 172
	TreeBlockRefKey       uint8 = 176
	ExtentDataRefKey      uint8 = 178
	SharedBlockRefKey     uint8 = 182
	SharedDataRefKey      uint8 = 184
	BlockGroupItemKey     uint8 = 192
	FreeSpaceInfoKey      uint8 = 198
	FreeSpaceExtentKey    uint8 = 199
	FreeSpaceBitmapKey    uint8 = 200
	DevExtentKey          uint8 = 204
	DevItemKey            uint8 = 216
	ChunkItemKey          uint8 = 228
	RaidStripeKey         uint8 = 230
	QgroupStatusKey       uint8 = 240
	QgroupInfoKey         uint8 = 242
	QgroupLimitKey        uint8 = 244
	QgroupRelationKey     uint8 = 246
	TemporaryItemKey      uint8 = 248 // also BALANCE_ITEM
	PersistentItemKey     uint8 = 249 // also DEV_STATS
	DevReplaceKey         uint8 = 250
	UUIDKeySubvol         uint8 = 251
	UUIDKeyReceivedSubvol uint8 = 252
	StringItemKey         uint8 = 253
)

// Well-known objectids (§2.6). Negative ids are 2^64 - n.
const (
	DevStatsObjectID       uint64 = 0
	RootTreeObjectID       uint64 = 1
	DevItemsObjectID       uint64 = 1
	ExtentTreeObjectID     uint64 = 2
	ChunkTreeObjectID      uint64 = 3
	DevTreeObjectID        uint64 = 4
	FSTreeObjectID         uint64 = 5
	RootTreeDirObjectID    uint64 = 6
	CsumTreeObjectID       uint64 = 7
	QuotaTreeObjectID      uint64 = 8
	UUIDTreeObjectID       uint64 = 9
	FreeSpaceTreeObjectID  uint64 = 10
	BlockGroupTreeObjectID uint64 = 11
	RaidStripeTreeObjectID uint64 = 12
	RemapTreeObjectID      uint64 = 13
	FirstFreeObjectID      uint64 = 256
	FirstChunkTreeObjectID uint64 = 256

	BalanceObjectID       = ^uint64(4 - 1)
	OrphanObjectID        = ^uint64(5 - 1)
	TreeLogObjectID       = ^uint64(6 - 1)
	TreeLogFixupObjectID  = ^uint64(7 - 1)
	TreeRelocObjectID     = ^uint64(8 - 1)
	DataRelocTreeObjectID = ^uint64(9 - 1)
	ExtentCsumObjectID    = ^uint64(10 - 1)
	FreeSpaceObjectID     = ^uint64(11 - 1)
	FreeInoObjectID       = ^uint64(12 - 1)
	MultipleObjectIDs     = ^uint64(255 - 1)
	LastFreeObjectID      = ^uint64(256 - 1)
)

// IsSubvolumeID reports whether id names a subvolume tree (5 or 256..-256).
func IsSubvolumeID(id uint64) bool {
	return id == FSTreeObjectID || (id >= FirstFreeObjectID && id <= LastFreeObjectID)
}

// Superblock flags.
const (
	SuperFlagWritten          uint64 = 1 << 0
	SuperFlagError            uint64 = 1 << 2
	SuperFlagSeeding          uint64 = 1 << 32
	SuperFlagMetadump         uint64 = 1 << 33
	SuperFlagMetadumpV2       uint64 = 1 << 34
	SuperFlagChangingFsid     uint64 = 1 << 35
	SuperFlagChangingFsidV2   uint64 = 1 << 36
	SuperFlagChangingBGTree   uint64 = 1 << 38
	SuperFlagChangingDataCsum uint64 = 1 << 39
	SuperFlagChangingMetaCsum uint64 = 1 << 40

	SuperFlagsKnown = SuperFlagWritten | SuperFlagError | SuperFlagSeeding |
		SuperFlagMetadump | SuperFlagMetadumpV2 | SuperFlagChangingFsid |
		SuperFlagChangingFsidV2 | SuperFlagChangingBGTree |
		SuperFlagChangingDataCsum | SuperFlagChangingMetaCsum
)

// Incompat feature flags.
const (
	IncompatMixedBackref   uint64 = 0x1
	IncompatDefaultSubvol  uint64 = 0x2
	IncompatMixedGroups    uint64 = 0x4
	IncompatCompressLZO    uint64 = 0x8
	IncompatCompressZSTD   uint64 = 0x10
	IncompatBigMetadata    uint64 = 0x20
	IncompatExtendedIref   uint64 = 0x40
	IncompatRaid56         uint64 = 0x80
	IncompatSkinnyMetadata uint64 = 0x100
	IncompatNoHoles        uint64 = 0x200
	IncompatMetadataUUID   uint64 = 0x400
	IncompatRaid1C34       uint64 = 0x800
	IncompatZoned          uint64 = 0x1000
	IncompatExtentTreeV2   uint64 = 0x2000
	IncompatRaidStripeTree uint64 = 0x4000
	IncompatSimpleQuota    uint64 = 0x10000
	IncompatRemapTree      uint64 = 0x20000

	// IncompatKnown is every bit the kernel of btrfs-format.md knows.
	IncompatKnown = IncompatMixedBackref | IncompatDefaultSubvol |
		IncompatMixedGroups | IncompatCompressLZO | IncompatCompressZSTD |
		IncompatBigMetadata | IncompatExtendedIref | IncompatRaid56 |
		IncompatSkinnyMetadata | IncompatNoHoles | IncompatMetadataUUID |
		IncompatRaid1C34 | IncompatZoned | IncompatExtentTreeV2 |
		IncompatRaidStripeTree | IncompatSimpleQuota | IncompatRemapTree

	// IncompatDefault is what cowfs mkfs writes (and mkfs.btrfs -m single).
	IncompatDefault = IncompatMixedBackref | IncompatExtendedIref |
		IncompatSkinnyMetadata | IncompatNoHoles
)

// Compat-ro feature flags.
const (
	CompatRoFreeSpaceTree      uint64 = 1
	CompatRoFreeSpaceTreeValid uint64 = 2
	CompatRoVerity             uint64 = 4
	CompatRoBlockGroupTree     uint64 = 8
	CompatRoKnown                     = CompatRoFreeSpaceTree | CompatRoFreeSpaceTreeValid | CompatRoVerity | CompatRoBlockGroupTree
)

// Tree block header flags (low 56 bits of the flags field).
const (
	HeaderFlagWritten uint64 = 1 << 0
	HeaderFlagReloc   uint64 = 1 << 1
)

// Block group and chunk type flags.
const (
	BlockGroupData     uint64 = 1 << 0
	BlockGroupSystem   uint64 = 1 << 1
	BlockGroupMetadata uint64 = 1 << 2
	BlockGroupRaid0    uint64 = 1 << 3
	BlockGroupRaid1    uint64 = 1 << 4
	BlockGroupDup      uint64 = 1 << 5
	BlockGroupRaid10   uint64 = 1 << 6
	BlockGroupRaid5    uint64 = 1 << 7
	BlockGroupRaid6    uint64 = 1 << 8
	BlockGroupRaid1C3  uint64 = 1 << 9
	BlockGroupRaid1C4  uint64 = 1 << 10

	BlockGroupTypeMask    = BlockGroupData | BlockGroupSystem | BlockGroupMetadata
	BlockGroupProfileMask = BlockGroupRaid0 | BlockGroupRaid1 | BlockGroupDup |
		BlockGroupRaid10 | BlockGroupRaid5 | BlockGroupRaid6 |
		BlockGroupRaid1C3 | BlockGroupRaid1C4
)

// Extent item flags.
const (
	ExtentFlagData        uint64 = 1
	ExtentFlagTreeBlock   uint64 = 2
	ExtentFlagFullBackref uint64 = 0x100
)

// File extent types and compression.
const (
	FileExtentInline   uint8 = 0
	FileExtentReg      uint8 = 1
	FileExtentPrealloc uint8 = 2

	CompressNone uint8 = 0
	CompressZlib uint8 = 1
	CompressLZO  uint8 = 2
	CompressZstd uint8 = 3
)

// Directory entry types (DIR_ITEM type byte).
const (
	FtUnknown   uint8 = 0
	FtRegFile   uint8 = 1
	FtDir       uint8 = 2
	FtChrdev    uint8 = 3
	FtBlkdev    uint8 = 4
	FtFifo      uint8 = 5
	FtSock      uint8 = 6
	FtSymlink   uint8 = 7
	FtXattr     uint8 = 8
	FtMax       uint8 = 9
	FtEncrypted uint8 = 0x80
)

// Inode flags (INODE_ITEM flags, low 32 bits).
const (
	InodeNoDataSum    uint64 = 1 << 0
	InodeNoDataCow    uint64 = 1 << 1
	InodeReadonly     uint64 = 1 << 2
	InodeNoCompress   uint64 = 1 << 3
	InodePrealloc     uint64 = 1 << 4
	InodeSync         uint64 = 1 << 5
	InodeImmutable    uint64 = 1 << 6
	InodeAppend       uint64 = 1 << 7
	InodeNoDump       uint64 = 1 << 8
	InodeNoAtime      uint64 = 1 << 9
	InodeDirSync      uint64 = 1 << 10
	InodeCompress     uint64 = 1 << 11
	InodeRootItemInit uint64 = 1 << 31

	InodeFlagsKnown = InodeNoDataSum | InodeNoDataCow | InodeReadonly |
		InodeNoCompress | InodePrealloc | InodeSync | InodeImmutable |
		InodeAppend | InodeNoDump | InodeNoAtime | InodeDirSync |
		InodeCompress | InodeRootItemInit
	InodeRoFlagVerity uint64 = 1 << 32
	InodeRoFlagsKnown        = InodeRoFlagVerity
)

// Root item flags.
const (
	RootSubvolRdonly uint64 = 1
	RootSubvolDead   uint64 = 1 << 48
)
