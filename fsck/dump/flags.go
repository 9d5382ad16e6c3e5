package dump

import (
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// namedBit is one flag bit and the name dump-super prints for it.
type namedBit struct {
	bit  uint64
	name string
}

// flagSet is how dump-super prints one flags field: the bits it names, in
// its order, and the bits it considers known. A set bit outside known prints
// as "unknown flag: 0x…"; a known bit without a name prints nothing.
type flagSet struct {
	names []namedBit
	known uint64
}

// The flag fields as btrfs-progs 6.2 prints them (learnt by setting every
// bit of a superblock and running its dump-super).
var (
	superFlags = flagSet{names: []namedBit{
		{format.SuperFlagWritten, "WRITTEN"},
		{format.HeaderFlagReloc, "RELOC"},
		{format.SuperFlagChangingFsid, "CHANGING_FSID"},
		{format.SuperFlagSeeding, "SEEDING"},
		{format.SuperFlagMetadump, "METADUMP"},
		{format.SuperFlagMetadumpV2, "METADUMP_V2"},
	}}
	compatRoFlags = flagSet{names: []namedBit{
		{format.CompatRoFreeSpaceTree, "FREE_SPACE_TREE"},
		{format.CompatRoFreeSpaceTreeValid, "FREE_SPACE_TREE_VALID"},
		{format.CompatRoBlockGroupTree, "BLOCK_GROUP_TREE"},
	}, known: format.CompatRoKnown}
	incompatFlags = flagSet{names: []namedBit{
		{format.IncompatMixedBackref, "MIXED_BACKREF"},
		{format.IncompatDefaultSubvol, "DEFAULT_SUBVOL"},
		{format.IncompatMixedGroups, "MIXED_GROUPS"},
		{format.IncompatCompressLZO, "COMPRESS_LZO"},
		{format.IncompatCompressZSTD, "COMPRESS_ZSTD"},
		{format.IncompatBigMetadata, "BIG_METADATA"},
		{format.IncompatExtendedIref, "EXTENDED_IREF"},
		{format.IncompatRaid56, "RAID56"},
		{format.IncompatSkinnyMetadata, "SKINNY_METADATA"},
		{format.IncompatNoHoles, "NO_HOLES"},
		{format.IncompatMetadataUUID, "METADATA_UUID"},
		{format.IncompatRaid1C34, "RAID1C34"},
		{format.IncompatZoned, "ZONED"},
		{format.IncompatExtentTreeV2, "EXTENT_TREE_V2"},
	}, known: format.IncompatExtentTreeV2 - 1}
)

func init() {
	for _, n := range superFlags.names {
		superFlags.known |= n.bit
	}
}

// readable renders the "\t\t\t( A |\n\t\t\t  B )" block dump-super prints
// under a flags field; nothing for zero. Names print only when some known
// bit is set, and then for every set bit that has one.
func (fs flagSet) readable(v uint64) string {
	if v == 0 {
		return ""
	}
	var parts []string
	if v&fs.known != 0 {
		for _, n := range fs.names {
			if v&n.bit != 0 {
				parts = append(parts, n.name)
			}
		}
	}
	if rest := v &^ fs.known; rest != 0 {
		parts = append(parts, fmt.Sprintf("unknown flag: 0x%x", rest))
	}
	var b strings.Builder
	b.WriteString("\t\t\t( ")
	for i, p := range parts {
		if i > 0 {
			b.WriteString("|\n\t\t\t  ")
		}
		b.WriteString(p + " ")
	}
	b.WriteString(")\n")
	return b.String()
}

// bitNames joins the names of the set bits with "|", or returns none.
func bitNames(v uint64, names []namedBit, none string) string {
	var parts []string
	for _, n := range names {
		if v&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, "|")
}

var inodeFlagNames = []namedBit{
	{format.InodeNoDataSum, "NODATASUM"}, {format.InodeNoDataCow, "NODATACOW"},
	{format.InodeReadonly, "READONLY"}, {format.InodeNoCompress, "NOCOMPRESS"},
	{format.InodePrealloc, "PREALLOC"}, {format.InodeSync, "SYNC"},
	{format.InodeImmutable, "IMMUTABLE"}, {format.InodeAppend, "APPEND"},
	{format.InodeNoDump, "NODUMP"}, {format.InodeNoAtime, "NOATIME"},
	{format.InodeDirSync, "DIRSYNC"}, {format.InodeCompress, "COMPRESS"},
}

// inodeFlags prints an inode's flags as "0x10(PREALLOC)".
func inodeFlags(v uint64) string {
	return fmt.Sprintf("0x%x(%s)", v, bitNames(v, inodeFlagNames, "none"))
}

var bgTypeNames = []namedBit{
	{format.BlockGroupData, "DATA"},
	{format.BlockGroupMetadata, "METADATA"},
	{format.BlockGroupSystem, "SYSTEM"},
}

var bgProfileNames = map[uint64]string{
	0:                        "single",
	format.BlockGroupRaid0:   "RAID0",
	format.BlockGroupRaid1:   "RAID1",
	format.BlockGroupDup:     "DUP",
	format.BlockGroupRaid10:  "RAID10",
	format.BlockGroupRaid5:   "RAID5",
	format.BlockGroupRaid6:   "RAID6",
	format.BlockGroupRaid1C3: "RAID1C3",
	format.BlockGroupRaid1C4: "RAID1C4",
}

// blockGroupFlags prints chunk and block-group type flags: "METADATA|DUP",
// "DATA|single".
func blockGroupFlags(v uint64) string {
	profile, ok := bgProfileNames[v&format.BlockGroupProfileMask]
	if !ok {
		profile = fmt.Sprintf("UNKNOWN.0x%x", v&format.BlockGroupProfileMask)
	}
	types := bitNames(v, bgTypeNames, "")
	if types == "" {
		return profile
	}
	return types + "|" + profile
}

var extentFlagNames = []namedBit{
	{format.ExtentFlagData, "DATA"},
	{format.ExtentFlagTreeBlock, "TREE_BLOCK"},
	{format.ExtentFlagFullBackref, "FULL_BACKREF"},
}

// headerFlagNames name a tree block header's low flag bits.
var headerFlagNames = []namedBit{
	{format.HeaderFlagWritten, "WRITTEN"},
	{format.HeaderFlagReloc, "RELOC"},
}
