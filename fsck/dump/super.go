package dump

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"cowfs/disk/format"
)

// SuperTitle is the two lines dump-super prints before each copy.
func SuperTitle(w io.Writer, bytenr int64, device string) error {
	_, err := fmt.Fprintf(w, "superblock: bytenr=%d, device=%s\n%s\n", bytenr, device, strings.Repeat("-", 57))
	return err
}

// Super writes a superblock as `btrfs inspect-internal dump-super` does;
// full adds the sys_chunk_array and the backup roots (-f). The [match]
// markers are computed from s itself (its encoding is the bytes read).
func Super(w io.Writer, s *format.Super, full bool) error {
	var b strings.Builder
	superIdentity(&b, s)
	superGeometry(&b, s)
	superFeatures(&b, s)
	superDevItem(&b, s)
	if full {
		sysChunkArray(&b, s)
		backupRoots(&b, s)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// superIdentity prints csum, bytenr, flags, magic, fsid and label.
func superIdentity(b *strings.Builder, s *format.Super) {
	size := s.CsumType.Size()
	name, mark := "INVALID", " [UNKNOWN CSUM TYPE OR SIZE]"
	if s.CsumType.Valid() {
		name, mark = csumNames[s.CsumType], " [DON'T MATCH]"
		if s.CsumType.VerifyBlockCsum(s.Encode()) {
			mark = " [match]"
		}
	} else {
		size = format.CsumFieldSize
	}
	fmt.Fprintf(b, "csum_type\t\t%d (%s)\n", uint16(s.CsumType), name)
	fmt.Fprintf(b, "csum_size\t\t%d\n", size)
	fmt.Fprintf(b, "csum\t\t\t0x%x%s\n", s.Csum[:size], mark)
	fmt.Fprintf(b, "bytenr\t\t\t%d\n", s.Bytenr)
	fmt.Fprintf(b, "flags\t\t\t0x%x\n%s", s.Flags, superFlags.readable(s.Flags))
	fmt.Fprintf(b, "magic\t\t\t%s%s\n", printable(le64Bytes(s.Magic)), matchMark(s.Magic == format.Magic))
	fmt.Fprintf(b, "fsid\t\t\t%s\n", s.Fsid)
	fmt.Fprintf(b, "metadata_uuid\t\t%s\n", s.MetadataFsid())
	fmt.Fprintf(b, "label\t\t\t%s\n", printable(cString(s.Label[:])))
}

// superGeometry prints generations, tree roots and sizes.
func superGeometry(b *strings.Builder, s *format.Super) {
	fmt.Fprintf(b, "generation\t\t%d\n", s.Generation)
	fmt.Fprintf(b, "root\t\t\t%d\n", s.Root)
	fmt.Fprintf(b, "sys_array_size\t\t%d\n", s.SysChunkArraySize)
	fmt.Fprintf(b, "chunk_root_generation\t%d\n", s.ChunkRootGeneration)
	fmt.Fprintf(b, "root_level\t\t%d\n", s.RootLevel)
	fmt.Fprintf(b, "chunk_root\t\t%d\n", s.ChunkRoot)
	fmt.Fprintf(b, "chunk_root_level\t%d\n", s.ChunkRootLevel)
	fmt.Fprintf(b, "log_root\t\t%d\n", s.LogRoot)
	fmt.Fprintf(b, "log_root_transid (deprecated)\t%d\n", s.LogRootTransid)
	fmt.Fprintf(b, "log_root_level\t\t%d\n", s.LogRootLevel)
	fmt.Fprintf(b, "total_bytes\t\t%d\n", s.TotalBytes)
	fmt.Fprintf(b, "bytes_used\t\t%d\n", s.BytesUsed)
	fmt.Fprintf(b, "sectorsize\t\t%d\n", s.SectorSize)
	fmt.Fprintf(b, "nodesize\t\t%d\n", s.NodeSize)
	fmt.Fprintf(b, "leafsize (deprecated)\t%d\n", s.LeafSize)
	fmt.Fprintf(b, "stripesize\t\t%d\n", s.StripeSize)
	fmt.Fprintf(b, "root_dir\t\t%d\n", s.RootDirObjectID)
	fmt.Fprintf(b, "num_devices\t\t%d\n", s.NumDevices)
}

// superFeatures prints the feature flags and the cache generations.
func superFeatures(b *strings.Builder, s *format.Super) {
	fmt.Fprintf(b, "compat_flags\t\t0x%x\n", s.CompatFlags)
	fmt.Fprintf(b, "compat_ro_flags\t\t0x%x\n%s", s.CompatRoFlags, compatRoFlags.readable(s.CompatRoFlags))
	fmt.Fprintf(b, "incompat_flags\t\t0x%x\n%s", s.IncompatFlags, incompatFlags.readable(s.IncompatFlags))
	fmt.Fprintf(b, "cache_generation\t%d\n", s.CacheGeneration)
	fmt.Fprintf(b, "uuid_tree_generation\t%d\n", s.UUIDTreeGeneration)
}

// superDevItem prints the embedded dev_item.
func superDevItem(b *strings.Builder, s *format.Super) {
	d := &s.DevItem
	fmt.Fprintf(b, "dev_item.uuid\t\t%s\n", d.UUID)
	fmt.Fprintf(b, "dev_item.fsid\t\t%s%s\n", d.Fsid, matchMark(d.Fsid == s.MetadataFsid()))
	fmt.Fprintf(b, "dev_item.type\t\t%d\n", d.Type)
	fmt.Fprintf(b, "dev_item.total_bytes\t%d\n", d.TotalBytes)
	fmt.Fprintf(b, "dev_item.bytes_used\t%d\n", d.BytesUsed)
	fmt.Fprintf(b, "dev_item.io_align\t%d\n", d.IOAlign)
	fmt.Fprintf(b, "dev_item.io_width\t%d\n", d.IOWidth)
	fmt.Fprintf(b, "dev_item.sector_size\t%d\n", d.SectorSize)
	fmt.Fprintf(b, "dev_item.devid\t\t%d\n", d.DevID)
	fmt.Fprintf(b, "dev_item.dev_group\t%d\n", d.DevGroup)
	fmt.Fprintf(b, "dev_item.seek_speed\t%d\n", d.SeekSpeed)
	fmt.Fprintf(b, "dev_item.bandwidth\t%d\n", d.Bandwidth)
	fmt.Fprintf(b, "dev_item.generation\t%d\n", d.Generation)
}

// sysChunkArray prints the sys_chunk_array entries, stopping (with a line
// saying why) at the first one that does not decode.
func sysChunkArray(b *strings.Builder, s *format.Super) {
	fmt.Fprintf(b, "sys_chunk_array[%d]:\n", format.SysChunkArrayMax)
	chunks, err := s.SysChunks()
	for i, c := range chunks {
		fmt.Fprintf(b, "\titem %d %s\n", i, Key(c.Key))
		chunkItem(b, c.Chunk)
	}
	if err != nil {
		fmt.Fprintf(b, "\tinvalid sys_chunk_array: %v\n", err)
	}
}

// backupRoots prints every backup-root slot that is in use.
func backupRoots(b *strings.Builder, s *format.Super) {
	fmt.Fprintf(b, "backup_roots[%d]:\n", len(s.SuperRoots))
	extentLabel := "backup_extent_root"
	if s.IncompatFlags&format.IncompatExtentTreeV2 != 0 {
		extentLabel = "backup_block_group_root"
	}
	for i, r := range s.SuperRoots {
		if r.TreeRoot == 0 && r.TreeRootGen == 0 {
			continue
		}
		fmt.Fprintf(b, "\tbackup %d:\n", i)
		fmt.Fprintf(b, "\t\tbackup_tree_root:\t%d\tgen: %d\tlevel: %d\n", r.TreeRoot, r.TreeRootGen, r.TreeRootLevel)
		fmt.Fprintf(b, "\t\tbackup_chunk_root:\t%d\tgen: %d\tlevel: %d\n", r.ChunkRoot, r.ChunkRootGen, r.ChunkRootLevel)
		fmt.Fprintf(b, "\t\t%s:\t%d\tgen: %d\tlevel: %d\n", extentLabel, r.ExtentRoot, r.ExtentRootGen, r.ExtentRootLevel)
		fmt.Fprintf(b, "\t\tbackup_fs_root:\t\t%d\tgen: %d\tlevel: %d\n", r.FSRoot, r.FSRootGen, r.FSRootLevel)
		fmt.Fprintf(b, "\t\tbackup_dev_root:\t%d\tgen: %d\tlevel: %d\n", r.DevRoot, r.DevRootGen, r.DevRootLevel)
		fmt.Fprintf(b, "\t\tcsum_root:\t%d\tgen: %d\tlevel: %d\n", r.CsumRoot, r.CsumRootGen, r.CsumRootLevel)
		fmt.Fprintf(b, "\t\tbackup_total_bytes:\t%d\n", r.TotalBytes)
		fmt.Fprintf(b, "\t\tbackup_bytes_used:\t%d\n", r.BytesUsed)
		fmt.Fprintf(b, "\t\tbackup_num_devices:\t%d\n\n", r.NumDevices)
	}
}

// csumNames are dump-super's names of the checksum types.
var csumNames = map[format.CsumType]string{
	format.CsumCRC32C: "crc32c", format.CsumXXHash: "xxhash64",
	format.CsumSHA256: "sha256", format.CsumBlake2b: "blake2",
}

func matchMark(ok bool) string {
	if ok {
		return " [match]"
	}
	return " [DON'T MATCH]"
}

func le64Bytes(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

// cString returns b up to its first NUL.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// printable replaces every byte outside printable ASCII with '.'.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c
		if c < 0x20 || c > 0x7e {
			out[i] = '.'
		}
	}
	return string(out)
}
