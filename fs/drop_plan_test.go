package fs

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/fs/data"
)

// costsOnly is a fileData whose only extents are exts (the planners read
// nothing else).
type costsOnly struct {
	fileData
	exts []data.ExtentCost
}

func (c costsOnly) ExtentCosts(ino, start, end uint64) ([]data.ExtentCost, error) {
	var out []data.ExtentCost
	for _, e := range c.exts {
		if e.End > start && e.Off < end {
			out = append(out, e)
		}
	}
	return out, nil
}

// randomExtents lays out n extents from 0 with holes, of 1 to 64 sectors,
// some without data (holes, csum 0).
func randomExtents(t *testing.T, n int) []data.ExtentCost {
	rng := testRand(t)
	var out []data.ExtentCost
	off := uint64(0)
	for range n {
		off += uint64(rng.IntN(3)) * 4096
		l := uint64(1+rng.IntN(64)) * 4096
		e := data.ExtentCost{Off: off, End: off + l}
		if rng.IntN(8) > 0 {
			e.Csum = l / 4096 * 1000
		}
		out = append(out, e)
		off += l
	}
	return out
}

// TestDropPlanBounds: truncation steps (descending cuts) and punch parts
// (ascending) cover every extent once, each within the bounds of one
// handle: at most evictChunk extents and evictCsum of checksum deletions,
// or a single extent.
func TestDropPlanBounds(t *testing.T) {
	exts := randomExtents(t, 500)
	fs := &FS{data: costsOnly{exts: exts}, sectorSize: 4096, evictChunk: 7, evictCsum: 150000}
	fits := func(part []data.ExtentCost) {
		require.True(t, len(part) == 1 || (len(part) <= fs.evictChunk && data.SumCsum(part) <= fs.evictCsum),
			"a part of %d extents, csum %d", len(part), data.SumCsum(part))
	}
	from := exts[40].Off + 4096 // inside extent 40 (at least one sector long)
	steps, last, err := fs.dropPlan(1, from)
	require.NoError(t, err)
	require.Greater(t, len(steps), 10)
	var seen []data.ExtentCost
	prev := ^uint64(0)
	for _, s := range steps {
		require.Less(t, s.cut, prev)
		require.Equal(t, s.cut, s.exts[0].Off)
		require.Greater(t, s.cut, from-1)
		fits(s.exts)
		seen = slices.Concat(s.exts, seen)
		prev = s.cut
	}
	require.Equal(t, from, last.cut)
	fits(last.exts)
	require.Equal(t, exts[40:], slices.Concat(last.exts, seen))

	off, end := exts[10].Off+100, exts[400].End-100
	parts, err := fs.punchParts(1, off, end)
	require.NoError(t, err)
	seen = nil
	for i, p := range parts {
		require.Less(t, p.off, p.end)
		if i > 0 {
			require.Equal(t, parts[i-1].end, p.off)
			require.Equal(t, p.off, p.exts[0].Off, "parts meet at an extent start")
		}
		fits(p.exts)
		seen = slices.Concat(seen, p.exts)
	}
	require.Equal(t, off, parts[0].off)
	require.Equal(t, end, parts[len(parts)-1].end)
	require.Equal(t, exts[10:401], seen)
	empty, err := fs.punchParts(1, end, end)
	require.NoError(t, err)
	require.Equal(t, []punchPart{{off: end, end: end}}, empty)
}
