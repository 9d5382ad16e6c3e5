package format

// FileExtent is the EXTENT_DATA payload, key (ino, 108, file offset).
// Inline extents carry their bytes in Inline; regular and prealloc extents
// point into a data extent.
type FileExtent struct {
	Generation    uint64
	RAMBytes      uint64
	Compression   uint8
	Encryption    uint8
	OtherEncoding uint16
	Type          uint8
	Inline        []byte // type inline: the data (compressed if Compression != 0)
	DiskBytenr    uint64 // regular/prealloc: data extent start; 0 = hole
	DiskNumBytes  uint64
	Offset        uint64 // offset into the data extent
	NumBytes      uint64 // bytes of the file covered
}

// File extent layout sizes.
const (
	FileExtentInlineHeader = 21
	FileExtentRegSize      = 53
)

// DecodeFileExtent decodes an EXTENT_DATA payload. A regular or prealloc
// extent must be exactly 53 bytes; an inline one at least 21.
func DecodeFileExtent(b []byte) (*FileExtent, error) {
	if len(b) < FileExtentInlineHeader {
		return nil, decodeErr("EXTENT_DATA", "size %d below %d", len(b), FileExtentInlineHeader)
	}
	r := &reader{b: b}
	v := &FileExtent{Generation: r.u64(), RAMBytes: r.u64(), Compression: r.u8(),
		Encryption: r.u8(), OtherEncoding: r.u16(), Type: r.u8()}
	if v.Type == FileExtentInline {
		v.Inline = r.bytes(r.left())
		return v, nil
	}
	if len(b) != FileExtentRegSize {
		return nil, decodeErr("EXTENT_DATA", "type %d size %d, expect %d", v.Type, len(b), FileExtentRegSize)
	}
	v.DiskBytenr, v.DiskNumBytes, v.Offset, v.NumBytes = r.u64(), r.u64(), r.u64(), r.u64()
	return v, nil
}

// Encode returns the payload bytes.
func (v *FileExtent) Encode() []byte {
	w := &writer{}
	w.u64(v.Generation)
	w.u64(v.RAMBytes)
	w.u8(v.Compression)
	w.u8(v.Encryption)
	w.u16(v.OtherEncoding)
	w.u8(v.Type)
	if v.Type == FileExtentInline {
		w.raw(v.Inline)
		return w.b
	}
	w.u64(v.DiskBytenr)
	w.u64(v.DiskNumBytes)
	w.u64(v.Offset)
	w.u64(v.NumBytes)
	return w.b
}
