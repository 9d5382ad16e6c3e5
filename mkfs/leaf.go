package mkfs

import (
	"fmt"
	"slices"

	"cowfs/disk/format"
)

// item is one leaf item before encoding.
type item struct {
	key  format.Key
	data []byte
}

func newItem(objectid uint64, typ uint8, offset uint64, payload format.Item) item {
	return item{format.Key{ObjectID: objectid, Type: typ, Offset: offset}, payload.Encode()}
}

// encodeLeaf builds the checksummed leaf of tree t from items: keys sorted,
// data packed from the end of the block, header WRITTEN with backref
// revision 1, generation 1.
func (p *plan) encodeLeaf(t Tree, items []item) ([]byte, error) {
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b item) int { return a.key.Compare(b.key) })
	for i := 1; i < len(items); i++ {
		if items[i-1].key == items[i].key {
			return nil, fmt.Errorf("mkfs: %s: duplicate key %v", t.Name, items[i].key)
		}
	}
	block := make([]byte, p.o.NodeSize)
	h := format.InitHeader(block, p.o.Fsid, p.o.ChunkUUID, t.Bytenr, generation, t.ObjectID, 0)
	h.SetFlagsRev(format.HeaderFlagWritten, format.BackrefRev)
	leaf := format.Leaf(block)
	end := format.LeafDataSize(p.o.NodeSize) // data offsets are relative to the header end
	for i, it := range items {
		need := uint32(len(it.data))
		if format.HeaderSize+uint32(i+1)*format.ItemHeaderSize+need > format.HeaderSize+end {
			return nil, fmt.Errorf("mkfs: %s: %d items do not fit a %d-byte leaf", t.Name, len(items), p.o.NodeSize)
		}
		end -= need
		leaf.SetItem(i, it.key, end, need)
		copy(block[format.HeaderSize+end:], it.data)
	}
	h.SetNrItems(uint32(len(items)))
	p.o.Csum.SetBlockCsum(block)
	return block, nil
}
