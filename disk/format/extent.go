package format

// InlineRef is one backref inside an EXTENT_ITEM or METADATA_ITEM. Which
// fields are meaningful depends on Type:
//
//	TREE_BLOCK_REF (176), EXTENT_OWNER_REF (172): Offset = root id
//	SHARED_BLOCK_REF (182): Offset = parent bytenr
//	SHARED_DATA_REF (184): Offset = parent bytenr, Count
//	EXTENT_DATA_REF (178): Data, no Offset
type InlineRef struct {
	Type   uint8
	Offset uint64
	Count  uint32
	Data   ExtentDataRef
}

// ExtentDataRef is a data backref: (root, inode, file offset - extent offset)
// with a count; 28 bytes keyed, 29 inline (with the type byte).
type ExtentDataRef struct {
	Root     uint64
	ObjectID uint64
	Offset   uint64
	Count    uint32
}

// ExtentDataRefSize is the encoded size of an ExtentDataRef.
const ExtentDataRefSize = 28

// Hash is the ref's ordering sequence and keyed-ref key offset.
func (d ExtentDataRef) Hash() uint64 { return ExtentDataRefHash(d.Root, d.ObjectID, d.Offset) }

// Seq is the ordering sequence of an inline ref within its type (§2.5):
// the data-ref hash for EXTENT_DATA_REF, the offset otherwise.
func (r InlineRef) Seq() uint64 {
	if r.Type == ExtentDataRefKey {
		return r.Data.Hash()
	}
	return r.Offset
}

// InlineRefSize is the encoded size of an inline ref of type t, or 0 if t is
// not an inline ref type.
func InlineRefSize(t uint8) int {
	switch t {
	case TreeBlockRefKey, SharedBlockRefKey, ExtentOwnerRefKey:
		return 9
	case ExtentDataRefKey:
		return 1 + ExtentDataRefSize
	case SharedDataRefKey:
		return 13
	}
	return 0
}

// ExtentItem is an EXTENT_ITEM (bytenr, 168, length) or METADATA_ITEM
// (bytenr, 169, level) payload.
type ExtentItem struct {
	Refs       uint64
	Generation uint64
	Flags      uint64
	// TreeBlockInfo is present for a tree block in a (non-skinny) EXTENT_ITEM.
	HasTreeBlockInfo bool
	TreeBlockKey     Key
	TreeBlockLevel   uint8
	Inline           []InlineRef
}

// Extent item layout sizes.
const (
	ExtentItemHeaderSize = 24
	TreeBlockInfoSize    = 18
)

// DecodeExtentItem decodes an extent item; keyType tells EXTENT_ITEM from
// METADATA_ITEM (only the former carries tree_block_info).
func DecodeExtentItem(b []byte, keyType uint8) (*ExtentItem, error) {
	if len(b) < ExtentItemHeaderSize {
		return nil, decodeErr("EXTENT_ITEM", "size %d below %d", len(b), ExtentItemHeaderSize)
	}
	r := &reader{b: b}
	v := &ExtentItem{Refs: r.u64(), Generation: r.u64(), Flags: r.u64()}
	if keyType == ExtentItemKey && v.Flags&ExtentFlagTreeBlock != 0 {
		v.HasTreeBlockInfo = true
		v.TreeBlockKey = r.key()
		v.TreeBlockLevel = r.u8()
	}
	for r.left() > 0 && r.err == nil {
		ref, err := decodeInlineRef(r)
		if err != nil {
			return nil, err
		}
		v.Inline = append(v.Inline, ref)
	}
	if r.err != nil {
		return nil, decodeErr("EXTENT_ITEM", "%v", r.err)
	}
	return v, nil
}

func decodeInlineRef(r *reader) (InlineRef, error) {
	ref := InlineRef{Type: r.u8()}
	switch ref.Type {
	case TreeBlockRefKey, SharedBlockRefKey, ExtentOwnerRefKey:
		ref.Offset = r.u64()
	case SharedDataRefKey:
		ref.Offset = r.u64()
		ref.Count = r.u32()
	case ExtentDataRefKey:
		ref.Data = ExtentDataRef{Root: r.u64(), ObjectID: r.u64(), Offset: r.u64(), Count: r.u32()}
	default:
		return ref, decodeErr("EXTENT_ITEM", "unknown inline ref type %d at byte %d", ref.Type, r.off-1)
	}
	return ref, nil
}

// Encode returns the payload bytes.
func (v *ExtentItem) Encode() []byte {
	w := &writer{}
	w.u64(v.Refs)
	w.u64(v.Generation)
	w.u64(v.Flags)
	if v.HasTreeBlockInfo {
		w.key(v.TreeBlockKey)
		w.u8(v.TreeBlockLevel)
	}
	for _, ref := range v.Inline {
		w.u8(ref.Type)
		switch ref.Type {
		case ExtentDataRefKey:
			w.raw(ref.Data.Encode())
		case SharedDataRefKey:
			w.u64(ref.Offset)
			w.u32(ref.Count)
		default:
			w.u64(ref.Offset)
		}
	}
	return w.b
}

// DecodeExtentDataRef decodes a keyed EXTENT_DATA_REF (28 bytes).
func DecodeExtentDataRef(b []byte) (*ExtentDataRef, error) {
	v := new(ExtentDataRef)
	return v, decodeFixed("EXTENT_DATA_REF", b, v)
}

// Encode returns the 28 bytes of the ref.
func (d ExtentDataRef) Encode() []byte { return encodeFixed(&d) }

// SharedDataRef is a keyed SHARED_DATA_REF payload (bytenr, 184, parent).
type SharedDataRef struct{ Count uint32 }

// DecodeSharedDataRef decodes a keyed SHARED_DATA_REF (4 bytes).
func DecodeSharedDataRef(b []byte) (*SharedDataRef, error) {
	v := new(SharedDataRef)
	return v, decodeFixed("SHARED_DATA_REF", b, v)
}

// Encode returns the 4 bytes of the ref.
func (v *SharedDataRef) Encode() []byte { return encodeFixed(v) }
