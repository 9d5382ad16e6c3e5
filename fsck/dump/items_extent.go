package dump

import (
	"encoding/binary"
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// extentItem prints an EXTENT_ITEM or METADATA_ITEM with its inline refs.
// Rendering stops at an inline ref type dump-tree 6.2 does not know
// (EXTENT_OWNER_REF), as dump-tree does.
func extentItem(b *strings.Builder, it item) error {
	if len(it.data) < format.ExtentItemHeaderSize {
		return nil // dump-tree prints nothing for a too-short extent item
	}
	refs, gen, flags := le64(it.data, 0), le64(it.data, 8), le64(it.data, 16)
	fmt.Fprintf(b, "\t\trefs %d gen %d flags %s\n", refs, gen, bitNames(flags, extentFlagNames, ""))
	v, err := format.DecodeExtentItem(it.data, it.key.Type)
	if err != nil {
		return err
	}
	switch {
	case it.key.Type == format.MetadataItemKey:
		fmt.Fprintf(b, "\t\ttree block skinny level %d\n", int(it.key.Offset))
	case v.HasTreeBlockInfo:
		fmt.Fprintf(b, "\t\ttree block %s level %d\n", Key(v.TreeBlockKey), v.TreeBlockLevel)
	}
	for _, r := range v.Inline {
		if !inlineRef(b, r) {
			break
		}
	}
	return nil
}

// inlineRef prints one inline backref; false for a type dump-tree stops at.
func inlineRef(b *strings.Builder, r format.InlineRef) bool {
	switch r.Type {
	case format.TreeBlockRefKey:
		fmt.Fprintf(b, "\t\ttree block backref root %s\n", ObjectID(r.Offset, 0))
	case format.SharedBlockRefKey:
		fmt.Fprintf(b, "\t\tshared block backref parent %d\n", r.Offset)
	case format.ExtentDataRefKey:
		dataRefLine(b, r.Data)
	case format.SharedDataRefKey:
		fmt.Fprintf(b, "\t\tshared data backref parent %d count %d\n", r.Offset, r.Count)
	default:
		return false
	}
	return true
}

func dataRefLine(b *strings.Builder, d format.ExtentDataRef) {
	fmt.Fprintf(b, "\t\textent data backref root %s objectid %d offset %d count %d\n",
		ObjectID(d.Root, 0), d.ObjectID, d.Offset, d.Count)
}

func extentDataRef(b *strings.Builder, it item) error {
	d, err := format.DecodeExtentDataRef(it.data)
	if err != nil {
		return err
	}
	dataRefLine(b, *d)
	return nil
}

func sharedDataRef(b *strings.Builder, it item) error {
	v, err := format.DecodeSharedDataRef(it.data)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\t\tshared data backref count %d\n", v.Count)
	return nil
}

// extentCsum prints the data range an EXTENT_CSUM item covers.
func extentCsum(b *strings.Builder, it item) error {
	if it.info.CsumSize <= 0 {
		fmt.Fprintf(b, "\t\trange start %d\n", it.key.Offset)
		return nil
	}
	size := uint64(len(it.data)/it.info.CsumSize) * uint64(it.info.SectorSize)
	fmt.Fprintf(b, "\t\trange start %d end %d length %d\n", it.key.Offset, it.key.Offset+size, uint32(size))
	return nil
}

func blockGroupItem(b *strings.Builder, it item) error {
	v, err := format.DecodeBlockGroupItem(it.data)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\t\tblock group used %d chunk_objectid %d flags %s\n", v.Used, v.ChunkObjectID, blockGroupFlags(v.Flags))
	return nil
}

func freeSpaceInfo(b *strings.Builder, it item) error {
	v, err := format.DecodeFreeSpaceInfo(it.data)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\t\tfree space info extent count %d flags %d\n", v.ExtentCount, v.Flags)
	return nil
}

// freeSpaceHeaderSize is the v1 space cache header: location key,
// generation, entries, bitmaps.
const freeSpaceHeaderSize = format.KeySize + 3*8

// freeSpaceHeader prints a v1 space cache header, (FREE_SPACE UNTYPED bg).
func freeSpaceHeader(b *strings.Builder, it item) error {
	if len(it.data) < freeSpaceHeaderSize {
		return short("free space header", len(it.data), freeSpaceHeaderSize)
	}
	fmt.Fprintf(b, "\t\tlocation %s\n", Key(format.ReadKey(it.data)))
	p := it.data[format.KeySize:]
	fmt.Fprintf(b, "\t\tcache generation %d entries %d bitmaps %d\n", le64(p, 0), le64(p, 8), le64(p, 16))
	return nil
}

// le64 reads a little-endian u64 at off; the caller has checked the length.
func le64(p []byte, off int) uint64 { return binary.LittleEndian.Uint64(p[off:]) }

// le32 reads a little-endian u32 at off; the caller has checked the length.
func le32(p []byte, off int) uint32 { return binary.LittleEndian.Uint32(p[off:]) }
