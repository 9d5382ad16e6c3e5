package transaction

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/alloc"
	"cowfs/disk/format"
)

// TestFreeSpaceThresholds: the kernel's formula (bitmaps of 2048 sectors,
// 25-byte item headers, 256-byte bitmaps) for groups of 8 MiB (1 bitmap),
// 1 GiB (128) and a length not a multiple of a bitmap's span (2).
func TestFreeSpaceThresholds(t *testing.T) {
	for _, c := range []struct{ length, high, low uint64 }{
		{8 << 20, 281 / 25, 0},
		{1 << 30, 128 * 281 / 25, 128*281/25 - 100},
		{8<<20 + 4096, 2 * 281 / 25, 0},
	} {
		high, low := format.FreeSpaceThresholds(c.length, 4096)
		require.Equal(t, [2]uint64{c.high, c.low}, [2]uint64{high, low}, "group of %d bytes", c.length)
	}
}

// TestGroupFreeForm: a group keeps its form between the thresholds and
// changes it past them, both ways; bitmaps cover the group from its start
// in spans of 2048 sectors, the last one shorter, one bit per free sector.
func TestGroupFreeForm(t *testing.T) {
	const ss, gib = 4096, 1 << 30
	high, low := format.FreeSpaceThresholds(gib, ss)
	ranges := func(n uint64) alloc.GroupFree {
		g := alloc.GroupFree{Start: gib, Length: gib}
		for i := range n {
			g.Free = append(g.Free, alloc.Range{Start: gib + 2*i*ss, Len: ss})
		}
		return g
	}
	info := func(bitmaps bool) []fsItem {
		fi := format.FreeSpaceInfo{}
		if bitmaps {
			fi.Flags = format.FreeSpaceUsingBitmaps
		}
		return []fsItem{{format.Key{ObjectID: gib, Type: format.FreeSpaceInfoKey, Offset: gib}, fi.Encode()}}
	}
	for _, c := range []struct {
		was  bool
		n    uint64
		want bool
	}{{false, high, false}, {false, high + 1, true}, {true, low, true}, {true, low - 1, false}, {true, high + 1, true}} {
		require.Equal(t, c.want, usesBitmaps(info(c.was), ranges(c.n), ss), "bitmaps %v, %d extents", c.was, c.n)
	}
	g := alloc.GroupFree{Start: gib, Length: 8<<20 + 8*ss, Free: []alloc.Range{{Start: gib + ss, Len: 2 * ss}, {Start: gib + 8<<20, Len: ss}}}
	items := groupFreeItems(g, ss, true)
	require.Len(t, items, 3)
	require.Equal(t, []byte{0x06}, items[format.Key{ObjectID: gib, Type: format.FreeSpaceBitmapKey, Offset: 8 << 20}][:1])
	require.Equal(t, []byte{0x01}, items[format.Key{ObjectID: gib + 8<<20, Type: format.FreeSpaceBitmapKey, Offset: 8 * ss}])
	fi, err := format.DecodeFreeSpaceInfo(items[format.Key{ObjectID: gib, Type: format.FreeSpaceInfoKey, Offset: g.Length}])
	require.NoError(t, err)
	require.Equal(t, format.FreeSpaceInfo{ExtentCount: 2, Flags: format.FreeSpaceUsingBitmaps}, *fi)
}
