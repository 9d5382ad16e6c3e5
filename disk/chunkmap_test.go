package disk

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

func chunk(length, typ uint64, offsets ...uint64) *format.ChunkItem {
	c := &format.ChunkItem{Length: length, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen,
		Type: typ, IOAlign: 4096, IOWidth: 4096, SectorSize: 4096, NumStripes: uint16(len(offsets))}
	for _, o := range offsets {
		c.Stripes = append(c.Stripes, format.Stripe{DevID: 1, Offset: o})
	}
	return c
}

func TestChunkMapInsertLookup(t *testing.T) {
	m := NewChunkMap()
	data := chunk(8<<20, format.BlockGroupData, 30<<20)
	sys := chunk(4<<20, format.BlockGroupSystem, 1<<20)
	require.NoError(t, m.Insert(22<<20, data))
	require.NoError(t, m.Insert(1<<20, sys))

	start, c, ok := m.Lookup(5<<20 - 1)
	require.True(t, ok)
	require.Equal(t, uint64(1<<20), start)
	require.Same(t, sys, c)
	for _, l := range []uint64{0, 5 << 20, 21 << 20, 30 << 20} {
		_, _, ok := m.Lookup(l)
		require.False(t, ok, "logical %d", l)
	}

	var starts []uint64
	for s := range m.Chunks() {
		starts = append(starts, s)
	}
	require.Equal(t, []uint64{1 << 20, 22 << 20}, starts)
	require.Equal(t, 2, m.Len())
}

func TestChunkMapInsertRejects(t *testing.T) {
	m := NewChunkMap()
	require.NoError(t, m.Insert(1<<20, chunk(1<<20, 0, 1<<20)))
	bad := map[string]struct {
		logical uint64
		c       *format.ChunkItem
	}{
		"zero length":  {4 << 20, chunk(0, 0, 4<<20)},
		"no stripes":   {4 << 20, chunk(1<<20, 0)},
		"wraps":        {1 << 63, chunk(1<<63, 0, 0)},
		"overlap end":  {0, chunk(1<<20+1, 0, 0)},
		"overlap head": {2<<20 - 1, chunk(1<<20, 0, 0)},
		"inside":       {1<<20 + 4096, chunk(4096, 0, 0)},
		"same start":   {1 << 20, chunk(1, 0, 0)},
		"covers":       {0, chunk(4<<20, 0, 0)},
	}
	for name, b := range bad {
		require.ErrorIs(t, m.Insert(b.logical, b.c), ErrBadChunk, name)
	}
	require.NoError(t, m.Insert(0, chunk(1<<20, 0, 0)), "touching is not overlap")
	require.NoError(t, m.Insert(2<<20, chunk(1<<20, 0, 0)))
}

func TestChunkMapPhysical(t *testing.T) {
	m := NewChunkMap()
	require.NoError(t, m.Insert(1<<20, chunk(4<<20, format.BlockGroupSystem, 1<<20)))
	require.NoError(t, m.Insert(100<<20, chunk(8<<20, format.BlockGroupMetadata|format.BlockGroupDup, 10<<20, 18<<20)))

	p, err := m.Physical(1<<20+16384, 16384)
	require.NoError(t, err)
	require.Equal(t, int64(1<<20+16384), p, "identity-mapped SINGLE")

	p, err = m.Physical(100<<20+4096, 4096)
	require.NoError(t, err)
	require.Equal(t, int64(10<<20+4096), p, "DUP: first stripe")
	copies, err := m.Copies(100<<20+4096, 4096)
	require.NoError(t, err)
	require.Equal(t, []int64{10<<20 + 4096, 18<<20 + 4096}, copies)

	p, err = m.Physical(5<<20-16384, 16384)
	require.NoError(t, err, "ends exactly at the chunk end")
	require.Equal(t, int64(5<<20-16384), p)
}

func TestChunkMapPhysicalErrors(t *testing.T) {
	m := NewChunkMap()
	require.NoError(t, m.Insert(1<<20, chunk(4<<20, 0, 1<<20)))
	require.NoError(t, m.Insert(8<<20, chunk(1<<20, format.BlockGroupRaid1, 8<<20, 9<<20)))
	require.NoError(t, m.Insert(16<<20, chunk(1<<20, 0, 1<<63-4096)))

	_, err := m.Physical(0, 4096)
	require.ErrorIs(t, err, ErrUnmapped)
	_, err = m.Physical(5<<20-4096, 8192)
	require.ErrorIs(t, err, ErrUnmapped)
	require.EqualError(t, err, "logical range not mapped: logical [5238784, +8192) crosses the end 5242880 of chunk 1048576")
	_, err = m.Physical(2<<20, 1<<64-1)
	require.ErrorIs(t, err, ErrUnmapped, "length wrapping past 2^64")
	_, err = m.Physical(8<<20, 4096)
	require.ErrorIs(t, err, ErrProfile)
	_, err = m.Physical(16<<20+8192, 4096)
	require.ErrorIs(t, err, ErrBadChunk, "physical offset past int64")
}

func TestChunkMapFromSuper(t *testing.T) {
	s := testSuper(1)
	sys := chunk(4<<20, format.BlockGroupSystem, 1<<20)
	key := format.Key{ObjectID: format.FirstChunkTreeObjectID, Type: format.ChunkItemKey, Offset: 1 << 20}
	require.NoError(t, s.SetSysChunks([]format.SysChunk{{Key: key, Chunk: sys}}))
	require.Equal(t, uint32(97), s.SysChunkArraySize)

	m, err := ChunkMapFromSuper(s)
	require.NoError(t, err)
	p, err := m.Physical(1<<20+4096, 4096)
	require.NoError(t, err)
	require.Equal(t, int64(1<<20+4096), p)

	dup := format.SysChunk{Key: key, Chunk: chunk(1<<20, format.BlockGroupSystem, 1<<20)}
	require.NoError(t, s.SetSysChunks([]format.SysChunk{{Key: key, Chunk: sys}, dup}))
	_, err = ChunkMapFromSuper(s)
	require.ErrorIs(t, err, format.ErrCorrupt)
	require.ErrorIs(t, err, ErrBadChunk)

	key.Type = format.DevItemKey
	require.NoError(t, s.SetSysChunks([]format.SysChunk{{Key: key, Chunk: sys}}))
	_, err = ChunkMapFromSuper(s)
	require.ErrorIs(t, err, format.ErrCorrupt)

	s.SysChunkArraySize = 50 // a truncated entry
	_, err = ChunkMapFromSuper(s)
	require.ErrorIs(t, err, format.ErrCorrupt)
}
