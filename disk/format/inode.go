package format

// Timespec is a btrfs timestamp: seconds u64 + nanoseconds u32 (12 bytes).
type Timespec struct {
	Sec  uint64
	Nsec uint32
}

// InodeItem is the INODE_ITEM payload (160 bytes), key (ino, 1, 0).
type InodeItem struct {
	Generation uint64
	Transid    uint64
	Size       uint64
	Nbytes     uint64
	BlockGroup uint64
	Nlink      uint32
	UID        uint32
	GID        uint32
	Mode       uint32
	Rdev       uint64
	Flags      uint64
	Sequence   uint64
	Reserved   [4]uint64
	Atime      Timespec
	Ctime      Timespec
	Mtime      Timespec
	Otime      Timespec
}

// InodeItemSize is the encoded size of an InodeItem.
const InodeItemSize = 160

// DecodeInodeItem decodes an INODE_ITEM payload of exactly 160 bytes.
func DecodeInodeItem(b []byte) (*InodeItem, error) {
	v := new(InodeItem)
	return v, decodeFixed("INODE_ITEM", b, v)
}

// Encode returns the 160 bytes of v.
func (v *InodeItem) Encode() []byte { return encodeFixed(v) }

// InodeRef is one entry of an INODE_REF item, key (ino, 12, parent).
type InodeRef struct {
	Index uint64
	Name  []byte
}

// InodeRefItem is an INODE_REF item: one or more names in the same parent.
type InodeRefItem []InodeRef

// DecodeInodeRefs decodes every packed entry; the item must be filled exactly.
func DecodeInodeRefs(b []byte) (InodeRefItem, error) {
	r := &reader{b: b}
	var out InodeRefItem
	for r.left() > 0 && r.err == nil {
		idx := r.u64()
		n := int(r.u16())
		out = append(out, InodeRef{Index: idx, Name: r.bytes(n)})
	}
	if r.err != nil || len(out) == 0 {
		return nil, decodeErr("INODE_REF", "%v (item size %d)", r.errOr("empty"), len(b))
	}
	return out, nil
}

// Encode packs the entries.
func (v InodeRefItem) Encode() []byte {
	w := &writer{}
	for _, e := range v {
		w.u64(e.Index)
		w.u16(uint16(len(e.Name)))
		w.raw(e.Name)
	}
	return w.b
}

// InodeExtref is one entry of an INODE_EXTREF item, key (ino, 13, hash).
type InodeExtref struct {
	Parent uint64
	Index  uint64
	Name   []byte
}

// InodeExtrefItem is an INODE_EXTREF item (entries whose hashes collide).
type InodeExtrefItem []InodeExtref

// DecodeInodeExtrefs decodes every packed entry.
func DecodeInodeExtrefs(b []byte) (InodeExtrefItem, error) {
	r := &reader{b: b}
	var out InodeExtrefItem
	for r.left() > 0 && r.err == nil {
		p, idx := r.u64(), r.u64()
		n := int(r.u16())
		out = append(out, InodeExtref{Parent: p, Index: idx, Name: r.bytes(n)})
	}
	if r.err != nil || len(out) == 0 {
		return nil, decodeErr("INODE_EXTREF", "%v (item size %d)", r.errOr("empty"), len(b))
	}
	return out, nil
}

// Encode packs the entries.
func (v InodeExtrefItem) Encode() []byte {
	w := &writer{}
	for _, e := range v {
		w.u64(e.Parent)
		w.u64(e.Index)
		w.u16(uint16(len(e.Name)))
		w.raw(e.Name)
	}
	return w.b
}
