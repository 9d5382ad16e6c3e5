package mkfs

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
)

// image is a decoded mkfs result, read back from the device the way a
// mounter would: superblock, sys_chunk_array, chunk tree, root tree.
type image struct {
	t      *testing.T
	dev    disk.Device
	super  *format.Super
	chunks map[uint64]*format.ChunkItem // by logical start
	leaves map[uint64]format.Leaf       // by tree objectid
	addrs  map[uint64]uint64            // tree objectid -> bytenr
}

// readImage reads and structurally verifies every tree block.
func readImage(t *testing.T, dev disk.Device) *image {
	t.Helper()
	s, err := checker.ReadSuper(dev)
	require.NoError(t, err)
	im := &image{t: t, dev: dev, super: s, chunks: map[uint64]*format.ChunkItem{},
		leaves: map[uint64]format.Leaf{}, addrs: map[uint64]uint64{}}
	sys, err := s.SysChunks()
	require.NoError(t, err)
	for _, c := range sys {
		im.chunks[c.Key.Offset] = c.Chunk
	}
	im.load(format.ChunkTreeObjectID, s.ChunkRoot)
	for _, it := range im.items(format.ChunkTreeObjectID) {
		if it.key.Type == format.ChunkItemKey {
			c, err := format.DecodeChunkItem(it.data)
			require.NoError(t, err)
			im.chunks[it.key.Offset] = c
		}
	}
	im.load(format.RootTreeObjectID, s.Root)
	for _, it := range im.items(format.RootTreeObjectID) {
		if it.key.Type == format.RootItemKey {
			ri, err := format.DecodeRootItem(it.data)
			require.NoError(t, err)
			require.EqualValues(t, generation, ri.Generation)
			require.EqualValues(t, 0, ri.Level)
			im.load(it.key.ObjectID, ri.Bytenr)
		}
	}
	return im
}

// physical maps a logical address through the chunks read so far.
func (im *image) physical(logical uint64) int64 {
	for start, c := range im.chunks {
		if logical >= start && logical < start+c.Length {
			return int64(c.Stripes[0].Offset + logical - start)
		}
	}
	im.t.Fatalf("logical %d is in no chunk", logical)
	return 0
}

// load reads tree id's leaf at bytenr and checks the header, checksum, key
// order and item packing.
func (im *image) load(id, bytenr uint64) {
	t := im.t
	block := make([]byte, im.super.NodeSize)
	require.NoError(t, im.dev.ReadAt(block, im.physical(bytenr), disk.KindMeta))
	require.True(t, im.super.CsumType.VerifyBlockCsum(block), "tree %d: checksum", id)
	h := format.Header(block)
	require.Equal(t, bytenr, h.Bytenr())
	require.Equal(t, im.super.Fsid, h.Fsid())
	require.Equal(t, id, h.Owner())
	require.EqualValues(t, generation, h.Generation())
	require.True(t, h.Written(), "tree %d: WRITTEN flag", id)
	require.EqualValues(t, format.BackrefRev, h.BackrefRev())
	require.EqualValues(t, 0, h.Level())
	leaf := format.Leaf(block)
	end := format.LeafDataSize(im.super.NodeSize)
	for i := range leaf.NrItems() {
		if i > 0 {
			require.True(t, leaf.ItemKey(i-1).Less(leaf.ItemKey(i)), "tree %d: keys out of order at %d", id, i)
		}
		require.Equal(t, end, leaf.ItemOffset(i)+leaf.ItemSize(i), "tree %d item %d: not packed", id, i)
		end = leaf.ItemOffset(i)
		_, err := leaf.ItemDataChecked(i)
		require.NoError(t, err)
	}
	im.leaves[id] = leaf
	im.addrs[id] = bytenr
}

type rawItem struct {
	key  format.Key
	data []byte
}

// items returns tree id's items in order.
func (im *image) items(id uint64) []rawItem {
	leaf, ok := im.leaves[id]
	require.True(im.t, ok, "tree %d not loaded", id)
	var out []rawItem
	for i := range leaf.NrItems() {
		out = append(out, rawItem{leaf.ItemKey(i), leaf.ItemData(i)})
	}
	return out
}

// itemsOfType returns tree id's items of one key type.
func (im *image) itemsOfType(id uint64, typ uint8) []rawItem {
	var out []rawItem
	for _, it := range im.items(id) {
		if it.key.Type == typ {
			out = append(out, it)
		}
	}
	return out
}
