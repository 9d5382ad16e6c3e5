package format

// Stripe is one stripe of a chunk: a device and a physical offset.
type Stripe struct {
	DevID   uint64
	Offset  uint64
	DevUUID UUID
}

// StripeSize is the encoded size of a Stripe.
const StripeSize = 32

const chunkFixedSize = 48

// ChunkItem is the CHUNK_ITEM payload, key (256, 228, logical start).
type ChunkItem struct {
	Length     uint64
	Owner      uint64
	StripeLen  uint64
	Type       uint64
	IOAlign    uint32
	IOWidth    uint32
	SectorSize uint32
	NumStripes uint16
	SubStripes uint16
	Stripes    []Stripe
}

// ChunkItemSize is the encoded size of a chunk with n stripes.
func ChunkItemSize(n int) int { return chunkFixedSize + n*StripeSize }

// DecodeChunkItem decodes a chunk; its size must be 48 + 32*num_stripes.
func DecodeChunkItem(b []byte) (*ChunkItem, error) {
	if len(b) < chunkFixedSize {
		return nil, decodeErr("CHUNK_ITEM", "size %d below %d", len(b), chunkFixedSize)
	}
	r := &reader{b: b}
	v := &ChunkItem{Length: r.u64(), Owner: r.u64(), StripeLen: r.u64(), Type: r.u64(),
		IOAlign: r.u32(), IOWidth: r.u32(), SectorSize: r.u32(),
		NumStripes: r.u16(), SubStripes: r.u16()}
	if want := ChunkItemSize(int(v.NumStripes)); len(b) != want {
		return nil, decodeErr("CHUNK_ITEM", "size %d, expect %d for %d stripes", len(b), want, v.NumStripes)
	}
	for range int(v.NumStripes) {
		s := Stripe{DevID: r.u64(), Offset: r.u64()}
		copy(s.DevUUID[:], r.take(UUIDSize))
		v.Stripes = append(v.Stripes, s)
	}
	return v, nil
}

// Encode returns the payload bytes (NumStripes is written as stored).
func (v *ChunkItem) Encode() []byte {
	w := &writer{}
	w.u64(v.Length)
	w.u64(v.Owner)
	w.u64(v.StripeLen)
	w.u64(v.Type)
	w.u32(v.IOAlign)
	w.u32(v.IOWidth)
	w.u32(v.SectorSize)
	w.u16(v.NumStripes)
	w.u16(v.SubStripes)
	for _, s := range v.Stripes {
		w.u64(s.DevID)
		w.u64(s.Offset)
		w.raw(s.DevUUID[:])
	}
	return w.b
}

// DecodeDevItem decodes a DEV_ITEM payload (98 bytes).
func DecodeDevItem(b []byte) (*DevItem, error) {
	v := new(DevItem)
	return v, decodeFixed("DEV_ITEM", b, v)
}

// Encode returns the 98 bytes of v.
func (v *DevItem) Encode() []byte { return encodeFixed(v) }

// DevExtent is the DEV_EXTENT payload (48 bytes), key (devid, 204, physical).
type DevExtent struct {
	ChunkTree     uint64
	ChunkObjectID uint64
	ChunkOffset   uint64
	Length        uint64
	ChunkTreeUUID UUID
}

// DecodeDevExtent decodes a DEV_EXTENT payload.
func DecodeDevExtent(b []byte) (*DevExtent, error) {
	v := new(DevExtent)
	return v, decodeFixed("DEV_EXTENT", b, v)
}

// Encode returns the 48 bytes of v.
func (v *DevExtent) Encode() []byte { return encodeFixed(v) }

// BlockGroupItem is the BLOCK_GROUP_ITEM payload (24 bytes),
// key (start, 192, length).
type BlockGroupItem struct {
	Used          uint64
	ChunkObjectID uint64
	Flags         uint64
}

// DecodeBlockGroupItem decodes a BLOCK_GROUP_ITEM payload.
func DecodeBlockGroupItem(b []byte) (*BlockGroupItem, error) {
	v := new(BlockGroupItem)
	return v, decodeFixed("BLOCK_GROUP_ITEM", b, v)
}

// Encode returns the 24 bytes of v.
func (v *BlockGroupItem) Encode() []byte { return encodeFixed(v) }
