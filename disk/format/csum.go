package format

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/crypto/blake2b"
)

// CsumType is the superblock's csum_type.
type CsumType uint16

// Checksum algorithms.
const (
	CsumCRC32C  CsumType = 0
	CsumXXHash  CsumType = 1
	CsumSHA256  CsumType = 2
	CsumBlake2b CsumType = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var csumNames = [...]string{"crc32c", "xxhash64", "sha256", "blake2b"}
var csumSizes = [...]int{4, 8, 32, 32}

// Valid reports whether t is one of the four known algorithms.
func (t CsumType) Valid() bool { return int(t) < len(csumNames) }

// Size is the number of checksum bytes stored (4, 8 or 32); 0 if invalid.
func (t CsumType) Size() int {
	if !t.Valid() {
		return 0
	}
	return csumSizes[t]
}

func (t CsumType) String() string {
	if !t.Valid() {
		return fmt.Sprintf("csum-type-%d", uint16(t))
	}
	return csumNames[t]
}

// ParseCsumType accepts crc32c, xxhash (or xxhash64), sha256 and blake2(b).
func ParseCsumType(s string) (CsumType, error) {
	switch strings.ToLower(s) {
	case "crc32c":
		return CsumCRC32C, nil
	case "xxhash", "xxhash64":
		return CsumXXHash, nil
	case "sha256":
		return CsumSHA256, nil
	case "blake2", "blake2b":
		return CsumBlake2b, nil
	}
	return 0, fmt.Errorf("unknown checksum type %q (want crc32c, xxhash, sha256 or blake2b)", s)
}

// Sum computes the checksum of data, laid out as stored: the first Size()
// bytes of a 32-byte field, the rest zero.
func (t CsumType) Sum(data []byte) [CsumFieldSize]byte {
	var out [CsumFieldSize]byte
	switch t {
	case CsumCRC32C:
		binary.LittleEndian.PutUint32(out[:], crc32.Checksum(data, castagnoli))
	case CsumXXHash:
		binary.LittleEndian.PutUint64(out[:], xxhash.Sum64(data))
	case CsumSHA256:
		out = sha256.Sum256(data)
	case CsumBlake2b:
		out = blake2b.Sum256(data)
	}
	return out
}

// SumBlock computes the checksum of a tree block or superblock: bytes [32, end).
func (t CsumType) SumBlock(block []byte) [CsumFieldSize]byte {
	return t.Sum(block[CsumFieldSize:])
}

// SetBlockCsum stores the checksum of block into its first 32 bytes.
func (t CsumType) SetBlockCsum(block []byte) {
	sum := t.SumBlock(block)
	copy(block[:CsumFieldSize], sum[:])
}

// VerifyBlockCsum reports whether the stored checksum of block matches its
// contents. Only the first Size() bytes are compared, as the kernel does.
func (t CsumType) VerifyBlockCsum(block []byte) bool {
	if !t.Valid() || len(block) <= CsumFieldSize {
		return false
	}
	sum := t.SumBlock(block)
	n := t.Size()
	return string(sum[:n]) == string(block[:n])
}
