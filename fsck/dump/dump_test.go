package dump

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

func TestKey(t *testing.T) {
	cases := []struct {
		k    format.Key
		want string
	}{
		{format.Key{ObjectID: 256, Type: format.InodeItemKey}, "key (256 INODE_ITEM 0)"},
		{format.Key{ObjectID: 1, Type: format.DevItemKey, Offset: 1}, "key (DEV_ITEMS DEV_ITEM 1)"},
		{format.Key{ObjectID: 1, Type: format.DevExtentKey, Offset: 1 << 20}, "key (1 DEV_EXTENT 1048576)"},
		{format.Key{ObjectID: 256, Type: format.ChunkItemKey, Offset: 5}, "key (FIRST_CHUNK_TREE CHUNK_ITEM 5)"},
		{format.Key{ObjectID: 0, Type: format.PersistentItemKey, Offset: 1}, "key (DEV_STATS PERSISTENT_ITEM 1)"},
		{format.Key{ObjectID: 5, Type: format.RootItemKey, Offset: ^uint64(0)}, "key (FS_TREE ROOT_ITEM 18446744073709551615)"},
		{format.Key{ObjectID: 257, Type: format.DirLogIndexKey, Offset: ^uint64(0)}, "key (257 DIR_LOG_INDEX -1)"},
		{format.Key{ObjectID: format.TreeRelocObjectID, Type: format.RootItemKey, Offset: 5}, "key (TREE_RELOC ROOT_ITEM FS_TREE)"},
		{format.Key{ObjectID: 0, Type: format.QgroupInfoKey, Offset: 1<<48 | 5}, "key (0 QGROUP_INFO 1/5)"},
		{format.Key{ObjectID: 1<<48 | 7, Type: format.QgroupRelationKey, Offset: 5}, "key (1/7 QGROUP_RELATION 0/5)"},
		{format.Key{ObjectID: 0xb4bc7759d73d10d, Type: format.UUIDKeySubvol, Offset: 1}, "key (0x0b4bc7759d73d10d UUID_KEY_SUBVOL 0x0000000000000001)"},
		{format.Key{ObjectID: format.FreeSpaceObjectID, Type: 0, Offset: 1}, "key (FREE_SPACE UNTYPED 1)"},
		{format.Key{ObjectID: format.TreeLogFixupObjectID, Type: 172}, "key (LOG_FIXUP UNKNOWN.172 0)"},
		{format.Key{ObjectID: ^uint64(0), Type: 99, Offset: 3}, "key (-1 UNKNOWN.99 3)"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, Key(c.k))
	}
}

func TestReadableFlags(t *testing.T) {
	require.Equal(t, "", superFlags.readable(0))
	require.Equal(t, "\t\t\t( WRITTEN )\n", superFlags.readable(1))
	require.Equal(t, "\t\t\t( MIXED_BACKREF |\n\t\t\t  NO_HOLES |\n\t\t\t  unknown flag: 0x40000000 )\n",
		incompatFlags.readable(1|0x200|0x40000000))
	require.Equal(t, "\t\t\t( unknown flag: 0x10 )\n", compatRoFlags.readable(0x10))
	require.Equal(t, "METADATA|DUP", blockGroupFlags(format.BlockGroupMetadata|format.BlockGroupDup))
	require.Equal(t, "DATA|METADATA|single", blockGroupFlags(format.BlockGroupData|format.BlockGroupMetadata))
	require.Equal(t, "0x11(NODATASUM|PREALLOC)", inodeFlags(0x11))
	require.Equal(t, "0x80000000(none)", inodeFlags(1<<31))
}

// leafOf builds a valid-looking 4 KiB leaf holding the given items.
func leafOf(keys []format.Key, data [][]byte) []byte {
	block := make([]byte, 4096)
	h := format.InitHeader(block, format.UUID{1}, format.UUID{2}, 4096, 7, 5, 0)
	h.SetWritten(true)
	l := format.Leaf(block)
	end := uint32(format.LeafDataSize(4096))
	for i, k := range keys {
		end -= uint32(len(data[i]))
		l.SetItem(i, k, end, uint32(len(data[i])))
		copy(block[format.HeaderSize+int(end):], data[i])
	}
	h.SetNrItems(uint32(len(keys)))
	return block
}

// TestRareItems covers item types no test image holds.
func TestRareItems(t *testing.T) {
	le := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			for i := range 8 {
				b = append(b, byte(v>>(8*i)))
			}
		}
		return b
	}
	keys := []format.Key{
		{ObjectID: 0, Type: format.QgroupStatusKey},
		{ObjectID: 0, Type: format.QgroupLimitKey, Offset: 5},
		{ObjectID: 1<<48 | 1, Type: format.QgroupRelationKey, Offset: 5},
		{ObjectID: 7, Type: format.StringItemKey},
		{ObjectID: format.BalanceObjectID, Type: format.TemporaryItemKey},
		{ObjectID: format.FreeSpaceObjectID, Type: 0, Offset: 1 << 20},
		{ObjectID: format.FreeSpaceObjectID + 1, Type: format.OrphanItemKey, Offset: 260},
	}
	data := [][]byte{
		le(1, 9, 7, ^uint64(0)),
		le(0, ^uint64(0), 5, 0, 0),
		nil,
		[]byte("hello\x00world"),
		make([]byte, balanceItemSize),
		append(make([]byte, format.KeySize), le(8, 2, 1)...),
		nil,
	}
	var b strings.Builder
	require.NoError(t, Block(&b, leafOf(keys, data), BlockInfo{CsumSize: 4, SectorSize: 4096}))
	out := b.String()
	for _, want := range []string{
		"\t\tversion 1 generation 9 flags ON|SCANNING|INCONSISTENT scan 18446744073709551615\n",
		"\t\tmax_referenced -1 max_exclusive 5\n",
		"key (1/1 QGROUP_RELATION 0/5) itemoff",
		"\t\titem data hello\n",
		"\t\ttemporary item objectid BALANCE offset 0\n\t\tbalance status flags 0\n\t\tDATA\n",
		"\t\tlocation key (0 UNKNOWN.0 0)\n\t\tcache generation 8 entries 2 bitmaps 1\n",
		"\t\torphan item\n",
	} {
		require.Contains(t, out, want)
	}
}

// FuzzBlock feeds arbitrary bytes to the renderer: it must never panic.
func FuzzBlock(f *testing.F) {
	f.Add(leafOf([]format.Key{{ObjectID: 256, Type: format.InodeItemKey}}, [][]byte{make([]byte, 160)}))
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out strings.Builder
		Block(&out, b, BlockInfo{CsumSize: 8, SectorSize: 4096})
	})
}

// FuzzSuper renders arbitrary superblock bytes; it must never panic.
func FuzzSuper(f *testing.F) {
	f.Add(make([]byte, format.SuperSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < format.SuperSize {
			b = append(b, make([]byte, format.SuperSize-len(b))...)
		}
		s, err := format.DecodeSuper(b[:format.SuperSize])
		if err != nil {
			return
		}
		var out strings.Builder
		Super(&out, s, true)
	})
}
