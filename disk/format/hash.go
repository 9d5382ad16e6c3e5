package format

import (
	"encoding/binary"
	"hash/crc32"
)

// crc32cRaw is CRC-32C without the final inversion, continuing from seed.
// (crc32.Update inverts on entry and exit; undoing both gives the raw form.)
func crc32cRaw(seed uint32, b []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, b)
}

// NameHash is the DIR_ITEM / XATTR_ITEM key offset for a name: CRC-32C with
// seed 0xFFFFFFFE ("~1") and no final inversion.
func NameHash(name []byte) uint64 {
	return uint64(crc32cRaw(^uint32(1), name))
}

// ExtrefHash is the INODE_EXTREF key offset: CRC-32C of the name seeded with
// the parent inode number (truncated to 32 bits), no final inversion.
func ExtrefHash(parent uint64, name []byte) uint64 {
	return uint64(crc32cRaw(uint32(parent), name))
}

// ExtentDataRefHash orders EXTENT_DATA_REF inline refs and keys keyed data
// refs: high = crc(root), low = crc(ino) continued over offset; (high<<31)^low.
func ExtentDataRefHash(root, ino, offset uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], root)
	high := crc32cRaw(^uint32(0), b[:])
	binary.LittleEndian.PutUint64(b[:], ino)
	low := crc32cRaw(^uint32(0), b[:])
	binary.LittleEndian.PutUint64(b[:], offset)
	low = crc32cRaw(low, b[:])
	return uint64(high)<<31 ^ uint64(low)
}
