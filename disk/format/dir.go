package format

// DirEntry is one entry of a DIR_ITEM, DIR_INDEX or XATTR_ITEM.
type DirEntry struct {
	Location Key // child inode key, subvolume root key, or zero for an xattr
	Transid  uint64
	Type     uint8
	Name     []byte
	Data     []byte // xattr value
}

// DirEntryHeaderSize is the fixed part of an entry before name and data.
const DirEntryHeaderSize = 30

// DirItem is a DIR_ITEM / DIR_INDEX / XATTR_ITEM payload. DIR_ITEM and
// XATTR_ITEM hold several entries when names collide; DIR_INDEX holds one.
type DirItem []DirEntry

// DecodeDirItem decodes every packed entry; the item must be filled exactly.
func DecodeDirItem(b []byte) (DirItem, error) {
	r := &reader{b: b}
	var out DirItem
	for r.left() > 0 && r.err == nil {
		var e DirEntry
		e.Location = r.key()
		e.Transid = r.u64()
		dataLen := int(r.u16())
		nameLen := int(r.u16())
		e.Type = r.u8()
		e.Name = r.bytes(nameLen)
		e.Data = r.bytes(dataLen)
		out = append(out, e)
	}
	if r.err != nil || len(out) == 0 {
		return nil, decodeErr("DIR_ITEM", "%v (item size %d)", r.errOr("empty"), len(b))
	}
	return out, nil
}

// Encode packs the entries.
func (v DirItem) Encode() []byte {
	w := &writer{}
	for _, e := range v {
		w.key(e.Location)
		w.u64(e.Transid)
		w.u16(uint16(len(e.Data)))
		w.u16(uint16(len(e.Name)))
		w.u8(e.Type)
		w.raw(e.Name)
		w.raw(e.Data)
	}
	return w.b
}

// Size is the encoded size of one entry.
func (e *DirEntry) Size() int { return DirEntryHeaderSize + len(e.Name) + len(e.Data) }
