package transaction

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

// TestCsumDeleteSize: the kernel's btrfs_calc_delayed_ref_csum_bytes of
// btrfs_csum_bytes_to_leaves, worked out by hand: MaxItemSize / csum size
// sums per leaf, MAX_LEVEL (8) nodes per leaf.
func TestCsumDeleteSize(t *testing.T) {
	for _, c := range []struct {
		nodesize uint32
		bytes    uint64
		want     uint64
	}{
		{16384, 4096, 1 * 16384 * 8},        // one sector: one leaf
		{16384, 2032 * 4096, 1 * 16384 * 8}, // (16384-101-25)/8 = 2,032 sums fill a leaf
		{16384, 2033 * 4096, 2 * 16384 * 8}, // one more: two
		{16384, 128 << 20, 17 * 16384 * 8},  // 32,768 sums: 17 leaves, 2.1 MiB
		{4096, 128 << 20, 67 * 4096 * 8},    // (4096-101-25)/8 = 496 per leaf
		{4096, 2 << 30, 1058 * 4096 * 8},    // 524,288 sums: 1,057.03 leaves
		{16384, 0, 0},
	} {
		fs := csumFS(t, c.nodesize)
		require.Equal(t, c.want, fs.CsumDeleteSize(c.bytes), "nodesize %d, %d bytes", c.nodesize, c.bytes)
		require.NoError(t, fs.Close())
	}
}

// committedExtent writes a data extent of size bytes with its sums and one
// reference (inode 257 at offset off) and commits.
func committedExtent(t *testing.T, fs *FS, size, off uint64) uint64 {
	t.Helper()
	h, err := fs.Start(10)
	require.NoError(t, err)
	b, err := h.AllocData(size)
	require.NoError(t, err)
	require.NoError(t, h.InsertCsums(b, fakeSums(fs, b, int(size/fs.csumGeometry().sector))))
	h.AddDataRef(b, size, format.FSTreeObjectID, 257, off, 1)
	require.NoError(t, h.End())
	require.NoError(t, fs.Commit())
	return b
}

// TestCsumDeletionReserved: a drop that may free a data extent reserves
// the deletion of its sums into the delayed-refs reserve, a reference
// that takes it back returns it, a fresh extent whose references cancel
// reserves it too; the commit deletes them and releases the reserve.
func TestCsumDeletionReserved(t *testing.T) {
	fs := csumFS(t, 16384)
	const size = 8 << 20
	cost := fs.CsumDeleteSize(size)
	k := committedExtent(t, fs, size, 0)
	h, err := fs.Start(10)
	require.NoError(t, err)
	h.AddDataRef(k, size, format.FSTreeObjectID, 257, 0, -1)
	require.Equal(t, cost, fs.csumRsv.Load())
	h.AddDataRef(k, size, format.FSTreeObjectID, 258, 0, 1) // another reference: not freed
	require.Zero(t, fs.csumRsv.Load())
	h.AddDataRef(k, size, format.FSTreeObjectID, 258, 0, -1)
	require.Equal(t, cost, fs.csumRsv.Load())

	f, err := h.AllocData(size)
	require.NoError(t, err)
	require.NoError(t, h.InsertCsums(f, fakeSums(fs, f, size/4096)))
	h.AddDataRef(f, size, format.FSTreeObjectID, 257, 0, 1)
	require.Equal(t, cost, fs.csumRsv.Load(), "a referenced fresh extent keeps its sums")
	h.AddDataRef(f, size, format.FSTreeObjectID, 257, 0, -1)
	require.Equal(t, 2*cost, fs.csumRsv.Load(), "a fresh extent left unreferenced")
	require.NoError(t, h.End())
	_, reserved := fs.delayedRefs.Info()
	require.GreaterOrEqual(t, reserved, 2*cost, "the trim at End keeps the deletions' share")

	require.NoError(t, fs.Commit())
	require.Empty(t, csumItems(t, fs))
	require.Zero(t, fs.csumRsv.Load())
	st := fs.Stats()
	require.Equal(t, 3*cost, st.CsumReserved, "reserved three times, returned once")
	require.Zero(t, st.CsumOwed)
	require.NoError(t, fs.Alloc().Check())
	require.NoError(t, fs.Close())
}

// TestCsumDeletionOwed: with no free metadata space the deletion is owed,
// and the next Start commits first (the global reserve backs it), before
// the handle it starts may queue more.
func TestCsumDeletionOwed(t *testing.T) {
	fs := csumFS(t, 16384)
	const size = 8 << 20
	k := committedExtent(t, fs, size, 0)
	h, err := fs.Start(10)
	require.NoError(t, err)
	filler := fs.Alloc().NewRsv("filler", format.BlockGroupMetadata)
	filler.Fill(math.MaxUint64 / 2) // every byte a reserve may still take
	h.AddDataRef(k, size, format.FSTreeObjectID, 257, 0, -1)
	require.NoError(t, h.End())
	st := fs.Stats()
	require.Equal(t, fs.CsumDeleteSize(size), st.CsumOwed)
	require.Equal(t, st.CsumOwed, fs.csumOwed.Load())
	filler.Release()

	h, err = fs.Start(1)
	require.NoError(t, err)
	require.Equal(t, st.Commits+1, fs.Stats().Commits, "Start commits what is owed first")
	require.Empty(t, csumItems(t, fs))
	require.Zero(t, fs.csumOwed.Load())
	require.NoError(t, h.End())
	require.NoError(t, fs.Aborted())
	require.NoError(t, fs.Alloc().Check())
	require.NoError(t, fs.Close())
}
