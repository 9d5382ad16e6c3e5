package format

// DevStats is the DEV_STATS payload, key (0, 249, devid): write, read, flush,
// corruption and generation error counters.
type DevStats struct{ Values [5]uint64 }

// DecodeDevStats decodes a DEV_STATS payload (40 bytes).
func DecodeDevStats(b []byte) (*DevStats, error) {
	v := new(DevStats)
	return v, decodeFixed("DEV_STATS", b, v)
}

// Encode returns the 40 bytes of v.
func (v *DevStats) Encode() []byte { return encodeFixed(v) }

// FreeSpaceInfo is the FREE_SPACE_INFO payload, key (bg start, 198, length).
type FreeSpaceInfo struct {
	ExtentCount uint32
	Flags       uint32 // 1 = bitmaps
}

// DecodeFreeSpaceInfo decodes a FREE_SPACE_INFO payload (8 bytes).
func DecodeFreeSpaceInfo(b []byte) (*FreeSpaceInfo, error) {
	v := new(FreeSpaceInfo)
	return v, decodeFixed("FREE_SPACE_INFO", b, v)
}

// Encode returns the 8 bytes of v.
func (v *FreeSpaceInfo) Encode() []byte { return encodeFixed(v) }

// DirLogItem is a DIR_LOG_ITEM / DIR_LOG_INDEX payload: the end of a range.
type DirLogItem struct{ End uint64 }

// DecodeDirLogItem decodes a DIR_LOG_* payload (8 bytes).
func DecodeDirLogItem(b []byte) (*DirLogItem, error) {
	v := new(DirLogItem)
	return v, decodeFixed("DIR_LOG_ITEM", b, v)
}

// Encode returns the 8 bytes of v.
func (v *DirLogItem) Encode() []byte { return encodeFixed(v) }

// UUIDItem is a UUID tree payload: the subvolume ids carrying that uuid.
type UUIDItem []uint64

// DecodeUUIDItem decodes a UUID_KEY_* payload (a multiple of 8 bytes).
func DecodeUUIDItem(b []byte) (UUIDItem, error) {
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, decodeErr("UUID_ITEM", "size %d not a positive multiple of 8", len(b))
	}
	out := make(UUIDItem, len(b)/8)
	for i := range out {
		out[i] = le.Uint64(b[i*8:])
	}
	return out, nil
}

// Encode returns the payload bytes.
func (v UUIDItem) Encode() []byte {
	w := &writer{}
	for _, id := range v {
		w.u64(id)
	}
	return w.b
}

// UUIDKey is the key of a UUID tree item: the uuid split into two LE u64s.
func UUIDKey(u UUID, typ uint8) Key {
	return Key{ObjectID: le.Uint64(u[0:8]), Type: typ, Offset: le.Uint64(u[8:16])}
}

// CsumItem is an EXTENT_CSUM payload: consecutive per-sector checksums.
type CsumItem []byte

// DecodeCsumItem checks that b is a whole number of csums of size n.
func DecodeCsumItem(b []byte, csumSize int) (CsumItem, error) {
	if csumSize <= 0 || len(b)%csumSize != 0 {
		return nil, decodeErr("EXTENT_CSUM", "size %d not a multiple of csum size %d", len(b), csumSize)
	}
	return CsumItem(append([]byte(nil), b...)), nil
}

// Encode returns the payload bytes.
func (v CsumItem) Encode() []byte { return append([]byte(nil), v...) }

// Count is the number of sectors covered, for csums of size n.
func (v CsumItem) Count(n int) int { return len(v) / n }

// Sum returns the i-th checksum, for csums of size n.
func (v CsumItem) Sum(i, n int) []byte { return v[i*n : (i+1)*n] }

// RawItem is an item cowfs does not decode (or an item with no payload, such
// as TREE_BLOCK_REF, ORPHAN_ITEM, FREE_SPACE_EXTENT): its bytes as they are.
type RawItem []byte

// Encode returns the payload bytes.
func (v RawItem) Encode() []byte { return append([]byte(nil), v...) }
