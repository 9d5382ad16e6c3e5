package transaction

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/alloc"
	"cowfs/disk/format"
)

// hogMetadata reserves every metadata byte reservations may still take, so
// the next Start must flush; the returned reserve gives them back.
func hogMetadata(t *testing.T, fs *FS) *alloc.BlockRsv {
	t.Helper()
	hog := fs.Alloc().NewRsv("hog", format.BlockGroupMetadata)
	hog.Fill(^uint64(0))
	_, err := fs.begin(userHandle, 1, InsertSize(fs.NodeSize(), 1), nil)
	require.ErrorIs(t, err, alloc.ErrNoSpace, "nothing left to reserve")
	return hog
}

// fillMetadata commits xattrs until the metadata groups are full enough
// for the kernel's should_alloc_chunk (80% used).
func fillMetadata(t *testing.T, fs *FS) {
	t.Helper()
	for n := 0; !fs.Alloc().ShouldAllocChunk(format.BlockGroupMetadata); n += 64 {
		require.Less(t, n, 100000, "the metadata groups never got 80% full")
		for i := n; i < n+64; i += 8 {
			insertXattrs(t, fs, i, 8, 3000)
		}
		require.NoError(t, fs.Commit())
	}
}

// flushDelta is what Start's flushes did between two snapshots.
func flushDelta(before, after Stats) [NumFlushStates]uint64 {
	var d [NumFlushStates]uint64
	for i := range d {
		d[i] = after.Flushes[i] - before.Flushes[i]
	}
	return d
}

// A Start that cannot reserve runs the flush states cheapest first and
// stops at the first that makes room: buffered data before a chunk, a
// chunk (once the groups are 80% used) before a commit.
func TestStartFlushOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		full   bool // metadata groups 80% used
		hook   bool // the OnNoSpace hook gives the hog back
		want   [NumFlushStates]uint64
		chunks uint64
	}{
		{"delalloc first", true, true, [NumFlushStates]uint64{FlushDelalloc: 1}, 0},
		{"chunk before commit", true, false, [NumFlushStates]uint64{FlushAllocChunk: 1}, 1},
		{"commit when no chunk is due", false, false, [NumFlushStates]uint64{FlushCommit: 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := OpenFile(fsImage(t, 128<<20), testOptions())
			require.NoError(t, err)
			if tc.full {
				fillMetadata(t, fs)
			}
			insertXattrs(t, fs, 1<<20, 4, 100) // queued refs: a commit frees their reserve
			hog := hogMetadata(t, fs)
			if tc.hook {
				fs.OnNoSpace(func() bool { return hog.Release() > 0 })
			}
			s0, a0 := fs.Stats(), fs.Alloc().Stats()
			h, err := fs.Start(1)
			require.NoError(t, err)
			require.NoError(t, h.End())
			require.Equal(t, tc.want, flushDelta(s0, fs.Stats()))
			require.Equal(t, tc.chunks, fs.Alloc().Stats().Chunks-a0.Chunks)
			hog.Release()
			require.NoError(t, fs.Close())
		})
	}
}
