package fsck

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSpans(t *testing.T) {
	s := normalize([]span{{30, 40}, {0, 10}, {10, 20}, {35, 50}, {60, 60}})
	require.Equal(t, spans{{0, 20}, {30, 50}}, s, "sorted, merged when touching, empty dropped")

	for _, c := range []struct {
		a, b, gap uint64
		ok        bool
	}{
		{0, 20, 0, true}, {5, 15, 0, true}, {15, 25, 20, false}, {20, 30, 20, false},
		{25, 35, 25, false}, {30, 50, 0, true}, {49, 51, 50, false}, {70, 80, 70, false}, {7, 7, 0, true},
	} {
		g, ok := s.gap(c.a, c.b)
		require.Equal(t, c.ok, ok, "gap [%d, %d)", c.a, c.b)
		if !ok {
			require.Equal(t, c.gap, g, "gap [%d, %d)", c.a, c.b)
		}
	}
	require.True(t, s.overlaps(19, 21))
	require.False(t, s.overlaps(20, 30))
	require.False(t, s.overlaps(50, 60))
	require.True(t, s.overlaps(0, 100))

	require.Equal(t, spans{{0, 5}, {15, 20}, {30, 31}}, s.minus(spans{{5, 15}, {31, 60}}))
	require.Equal(t, spans(nil), s.minus(spans{{0, 100}}))
	require.Equal(t, s, s.minus(nil))
}

func TestAppendBitmap(t *testing.T) {
	// Bits 0-1, 8 and 14-15 set (least significant first); the key covers
	// 14 sectors, so bits 14 and 15 are past it.
	got := appendBitmap(nil, 1000, 14*4, []byte{0b0000_0011, 0b1100_0001}, 4)
	require.Equal(t, []span{{1000, 1008}, {1032, 1036}}, got)
	got = appendBitmap(nil, 0, 16*4, []byte{0xff, 0xff}, 4)
	require.Equal(t, []span{{0, 64}}, got, "a run to the end closes")
	require.Empty(t, appendBitmap(nil, 0, 1<<40, nil, 4096), "the key's length cannot read past the data")
}
