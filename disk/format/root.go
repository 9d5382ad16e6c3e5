package format

// RootItem is the ROOT_ITEM payload (439 bytes; 239 in the legacy form that
// stops after Level), key (tree id, 132, 0 or snapshot transid).
type RootItem struct {
	Inode        InodeItem
	Generation   uint64
	RootDirID    uint64
	Bytenr       uint64
	ByteLimit    uint64
	BytesUsed    uint64
	LastSnapshot uint64
	Flags        uint64
	Refs         uint32
	DropProgress [KeySize]byte
	DropLevel    uint8
	Level        uint8
	// Fields below exist only in the 439-byte form.
	GenerationV2 uint64
	UUID         UUID
	ParentUUID   UUID
	ReceivedUUID UUID
	Ctransid     uint64
	Otransid     uint64
	Stransid     uint64
	Rtransid     uint64
	Ctime        Timespec
	Otime        Timespec
	Stime        Timespec
	Rtime        Timespec
	Reserved     [8]uint64
}

// Root item sizes.
const (
	RootItemSize       = 439
	RootItemLegacySize = 239
)

// DecodeRootItem decodes a 439- or 239-byte ROOT_ITEM. A legacy item decodes
// with the newer fields zero and Legacy reporting true.
func DecodeRootItem(b []byte) (*RootItem, error) {
	v := new(RootItem)
	switch len(b) {
	case RootItemSize:
		return v, decodeFixed("ROOT_ITEM", b, v)
	case RootItemLegacySize:
		full := make([]byte, RootItemSize)
		copy(full, b)
		return v, decodeFixed("ROOT_ITEM", full, v)
	}
	return nil, decodeErr("ROOT_ITEM", "size %d, expect %d or %d", len(b), RootItemSize, RootItemLegacySize)
}

// Encode returns the 439-byte form.
func (v *RootItem) Encode() []byte { return encodeFixed(v) }

// EncodeLegacy returns the 239-byte form (for re-encoding legacy items).
func (v *RootItem) EncodeLegacy() []byte { return v.Encode()[:RootItemLegacySize] }

// DropProgressKey decodes the drop_progress key.
func (v *RootItem) DropProgressKey() Key { return ReadKey(v.DropProgress[:]) }

// RootRef is a ROOT_REF (parent, 156, child) or ROOT_BACKREF (child, 144,
// parent) payload.
type RootRef struct {
	DirID    uint64
	Sequence uint64
	Name     []byte
}

// DecodeRootRef decodes a ROOT_REF / ROOT_BACKREF payload.
func DecodeRootRef(b []byte) (*RootRef, error) {
	r := &reader{b: b}
	v := &RootRef{DirID: r.u64(), Sequence: r.u64()}
	v.Name = r.bytes(int(r.u16()))
	if r.err != nil || r.left() != 0 {
		return nil, decodeErr("ROOT_REF", "%v (item size %d)", r.errOr("trailing bytes"), len(b))
	}
	return v, nil
}

// Encode returns the payload bytes.
func (v *RootRef) Encode() []byte {
	w := &writer{}
	w.u64(v.DirID)
	w.u64(v.Sequence)
	w.u16(uint16(len(v.Name)))
	w.raw(v.Name)
	return w.b
}
