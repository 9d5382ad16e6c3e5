package cache

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
)

func TestDefaultOptions(t *testing.T) {
	o := DefaultOptions()
	require.NoError(t, o.Validate(16384))
	require.NoError(t, o.Validate(65536))
	require.Equal(t, "budget=64MiB dirty-threshold=64MiB flush-interval=1s order=address writeback-io=locked "+
		"writeback-depth=32 writeback-max-io=1MiB", o.String())
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"small budget", func(o *Options) { o.Budget = 3 * 16384 }, "budget 48KiB is below 4 nodes (64KiB)"},
		{"tiny threshold", func(o *Options) { o.DirtyThreshold = 1 }, "dirty threshold 1B is below one node"},
		{"negative threshold", func(o *Options) { o.DirtyThreshold = -1 }, "dirty threshold -1B is below one node"},
		{"negative interval", func(o *Options) { o.FlushInterval = -time.Second }, "flush interval -1s is negative"},
		{"bad order", func(o *Options) { o.Order = 7 }, "unknown writeback order 7"},
		{"negative depth", func(o *Options) { o.WritebackDepth = -1 }, "writeback depth -1 outside [1, 1024]"},
		{"deep", func(o *Options) { o.WritebackDepth = 1025 }, "writeback depth 1025 outside [1, 1024]"},
		{"negative max I/O", func(o *Options) { o.WritebackMaxIO = -1 }, "writeback max I/O -1B outside"},
		{"huge max I/O", func(o *Options) { o.WritebackMaxIO = 128 << 20 }, "writeback max I/O 128MiB outside [one node, 64MiB]"},
		{"max I/O below a node", func(o *Options) { o.WritebackMaxIO = 8192 }, "writeback max I/O 8KiB is below one node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.edit(&o)
			err := o.Validate(16384)
			require.ErrorIs(t, err, ErrInvalidOptions)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
	o := Options{Budget: 4 * 16384, DirtyThreshold: math.MaxInt64}
	require.NoError(t, o.Validate(16384), "the smallest budget and a disabled flusher are valid")
	o.WritebackDepth, o.WritebackMaxIO = 1, 16384
	require.NoError(t, o.Validate(16384), "one write of one node at a time is valid")
	o.WritebackDepth, o.WritebackMaxIO = MaxWritebackDepth, MaxWritebackMaxIO
	require.NoError(t, o.Validate(16384))
}

func TestOptionsString(t *testing.T) {
	o := Options{Budget: 5 << 30, DirtyThreshold: 48 << 10, FlushInterval: 0, Order: OrderLRU}
	require.Equal(t, "budget=5GiB dirty-threshold=48KiB flush-interval=0s order=lru writeback-io=locked "+
		"writeback-depth=32 writeback-max-io=1MiB", o.String(), "zero means the defaults")
	o.WritebackDepth, o.WritebackMaxIO = 1, 64<<10
	require.True(t, strings.HasSuffix(o.String(), " writeback-depth=1 writeback-max-io=64KiB"))
	o.Budget = 100000
	require.True(t, strings.HasPrefix(o.String(), "budget=100000B "))
	o.DirtyThreshold = 0
	require.True(t, strings.HasPrefix(o.String(), "budget=100000B dirty-threshold=100000B "), "0 is the budget")
}

func TestParseOrderAndNames(t *testing.T) {
	for _, o := range []WritebackOrder{OrderAddress, OrderLRU} {
		got, err := ParseOrder(o.String())
		require.NoError(t, err)
		require.Equal(t, o, got)
	}
	_, err := ParseOrder("random")
	require.Error(t, err)
	require.Equal(t, "order-9", WritebackOrder(9).String())
	names := []string{}
	for c := range NumCauses {
		names = append(names, c.String())
	}
	require.Equal(t, []string{"reclaim", "threshold", "commit", "fsync"}, names)
	require.Equal(t, "cause-4", NumCauses.String())
}

func TestNewRejects(t *testing.T) {
	im := memImage(t)
	_, err := New(im.dev, im.cmap, im.ctx, Options{})
	require.ErrorIs(t, err, ErrInvalidOptions)
	bad := im.ctx
	bad.NodeSize = 12345
	_, err = New(im.dev, im.cmap, bad, DefaultOptions())
	require.ErrorContains(t, err, "invalid nodesize 12345")
	_, err = New(nil, im.cmap, im.ctx, DefaultOptions())
	require.Error(t, err)
	_, err = New(im.dev, nil, checker.Context{}, DefaultOptions())
	require.Error(t, err)

	c, err := New(im.dev, im.cmap, im.ctx, DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, uint32(16384), c.NodeSize())
	require.Equal(t, DefaultOptions(), c.Options())
	require.Equal(t, im.res.Super.Generation, c.LastCommitted(), "starts at the superblock generation")
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
}

func TestStatsFigures(t *testing.T) {
	var s Stats
	require.Zero(t, s.HitRatio())
	s.Hits, s.Misses = 3, 1
	require.InDelta(t, 0.75, s.HitRatio(), 1e-9)
	s.Writebacks = [NumCauses]uint64{1, 2, 3, 4}
	require.Equal(t, uint64(10), s.WritebacksTotal())
	prev := Stats{Hits: 1, Writebacks: [NumCauses]uint64{1, 1, 1, 1}}
	d := s.Sub(prev)
	require.Equal(t, uint64(2), d.Hits)
	require.Equal(t, [NumCauses]uint64{0, 1, 2, 3}, d.Writebacks)
	require.Contains(t, s.String(), "hits=3 misses=1 hit-ratio=0.750")
	require.Contains(t, s.String(), "writebacks(reclaim=1 threshold=2 commit=3 fsync=4)")
}
