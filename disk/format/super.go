package format

import "bytes"

// DevItem is the DEV_ITEM payload (98 bytes), also embedded in the superblock.
type DevItem struct {
	DevID       uint64
	TotalBytes  uint64
	BytesUsed   uint64
	IOAlign     uint32
	IOWidth     uint32
	SectorSize  uint32
	Type        uint64
	Generation  uint64
	StartOffset uint64
	DevGroup    uint32
	SeekSpeed   uint8
	Bandwidth   uint8
	UUID        UUID
	Fsid        UUID
}

// DevItemSize is the encoded size of a DevItem.
const DevItemSize = 98

// BackupRoot is one of the superblock's four backup-root slots (168 bytes).
type BackupRoot struct {
	TreeRoot, TreeRootGen     uint64
	ChunkRoot, ChunkRootGen   uint64
	ExtentRoot, ExtentRootGen uint64
	FSRoot, FSRootGen         uint64
	DevRoot, DevRootGen       uint64
	CsumRoot, CsumRootGen     uint64
	TotalBytes                uint64
	BytesUsed                 uint64
	NumDevices                uint64
	Unused64                  [4]uint64
	TreeRootLevel             uint8
	ChunkRootLevel            uint8
	ExtentRootLevel           uint8
	FSRootLevel               uint8
	DevRootLevel              uint8
	CsumRootLevel             uint8
	Unused8                   [10]uint8
}

// Super is the 4096-byte superblock (§2.2).
type Super struct {
	Csum                [CsumFieldSize]byte
	Fsid                UUID
	Bytenr              uint64
	Flags               uint64
	Magic               uint64
	Generation          uint64
	Root                uint64
	ChunkRoot           uint64
	LogRoot             uint64
	LogRootTransid      uint64
	TotalBytes          uint64
	BytesUsed           uint64
	RootDirObjectID     uint64
	NumDevices          uint64
	SectorSize          uint32
	NodeSize            uint32
	LeafSize            uint32
	StripeSize          uint32
	SysChunkArraySize   uint32
	ChunkRootGeneration uint64
	CompatFlags         uint64
	CompatRoFlags       uint64
	IncompatFlags       uint64
	CsumType            CsumType
	RootLevel           uint8
	ChunkRootLevel      uint8
	LogRootLevel        uint8
	DevItem             DevItem
	Label               [256]byte
	CacheGeneration     uint64
	UUIDTreeGeneration  uint64
	MetadataUUID        UUID
	NrGlobalRoots       uint64
	RemapRoot           uint64
	RemapRootGeneration uint64
	RemapRootLevel      uint8
	Reserved            [199]byte
	SysChunkArray       [SysChunkArrayMax]byte
	SuperRoots          [4]BackupRoot
	Padding             [565]byte
}

// DecodeSuper decodes a superblock from exactly SuperSize bytes. It checks
// only the size; validity is the checker's job.
func DecodeSuper(b []byte) (*Super, error) {
	s := new(Super)
	if err := decodeFixed("superblock", b, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Encode returns the 4096 bytes of s, with the checksum field as stored in s.
func (s *Super) Encode() []byte { return encodeFixed(s) }

// EncodeWithCsum returns the bytes of s with a freshly computed checksum
// (s.Csum is updated too).
func (s *Super) EncodeWithCsum() []byte {
	b := s.Encode()
	s.CsumType.SetBlockCsum(b)
	copy(s.Csum[:], b[:CsumFieldSize])
	return b
}

// LabelString returns the label up to its first NUL.
func (s *Super) LabelString() string {
	if i := bytes.IndexByte(s.Label[:], 0); i >= 0 {
		return string(s.Label[:i])
	}
	return string(s.Label[:])
}

// MetadataFsid is the fsid tree blocks carry: metadata_uuid with the
// METADATA_UUID feature, fsid otherwise.
func (s *Super) MetadataFsid() UUID {
	if s.IncompatFlags&IncompatMetadataUUID != 0 {
		return s.MetadataUUID
	}
	return s.Fsid
}

// SysChunk is one entry of the superblock's sys_chunk_array.
type SysChunk struct {
	Key   Key
	Chunk *ChunkItem
}

// SysChunks decodes the sys_chunk_array. It fails on a size out of range or
// an entry that does not fit; it never reads past the array.
func (s *Super) SysChunks() ([]SysChunk, error) {
	n := int(s.SysChunkArraySize)
	if n > SysChunkArrayMax {
		return nil, decodeErr("sys_chunk_array", "size %d over %d", n, SysChunkArrayMax)
	}
	r := &reader{b: s.SysChunkArray[:n]}
	var out []SysChunk
	for r.left() > 0 && r.err == nil {
		k := r.key()
		hdr := r.take(chunkFixedSize)
		if r.err != nil {
			break
		}
		ns := int(le.Uint16(hdr[44:]))
		body := append(hdr[:chunkFixedSize:chunkFixedSize], r.take(ns*StripeSize)...)
		if r.err != nil {
			break
		}
		c, err := DecodeChunkItem(body)
		if err != nil {
			return nil, err
		}
		out = append(out, SysChunk{k, c})
	}
	if r.err != nil {
		return nil, decodeErr("sys_chunk_array", "%v", r.err)
	}
	return out, nil
}

// SetSysChunks encodes chunks into the sys_chunk_array and its size.
func (s *Super) SetSysChunks(chunks []SysChunk) error {
	w := &writer{}
	for _, c := range chunks {
		w.key(c.Key)
		w.raw(c.Chunk.Encode())
	}
	if len(w.b) > SysChunkArrayMax {
		return decodeErr("sys_chunk_array", "%d bytes do not fit in %d", len(w.b), SysChunkArrayMax)
	}
	s.SysChunkArray = [SysChunkArrayMax]byte{}
	copy(s.SysChunkArray[:], w.b)
	s.SysChunkArraySize = uint32(len(w.b))
	return nil
}
