package transaction

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// csumFS opens a fresh image of the given node size for the csum tests.
// At cleanup (after the test's own Close) our fsck and btrfs check run.
func csumFS(t *testing.T, nodesize uint32) *FS {
	t.Helper()
	fs, err := OpenFile(fsImageNodes(t, 256<<20, nodesize), testOptions())
	require.NoError(t, err)
	return fs
}

// fakeSums returns n checksums of the filesystem's size, each naming its
// sector (so a misplaced one is seen).
func fakeSums(fs *FS, bytenr uint64, n int) []byte {
	cs := fs.CsumType().Size()
	out := make([]byte, n*cs)
	for i := range n {
		binary.LittleEndian.PutUint32(out[i*cs:], uint32((bytenr>>12)+uint64(i)))
		out[i*cs+cs-1] = 0xa5
	}
	return out
}

// csumItems returns every item of the csum tree.
func csumItems(t *testing.T, fs *FS) []ctree.Item {
	t.Helper()
	root, err := fs.Tree(format.CsumTreeObjectID)
	require.NoError(t, err)
	return scanItems(t, root, format.Key{}, ctree.MaxKey)
}

// requireCsumTree checks the csum tree's items against the model (sector
// address -> sum): only EXTENT_CSUM items, sorted, not overlapping, at
// most maxCsumsPerItem sums each, holding exactly the model's sums.
func requireCsumTree(t *testing.T, fs *FS, model map[uint64][]byte) {
	t.Helper()
	g := fs.csumGeometry()
	got := map[uint64][]byte{}
	var prevEnd uint64
	for _, it := range csumItems(t, fs) {
		require.True(t, isCsumItem(it.Key), "item %v in the csum tree", it.Key)
		require.GreaterOrEqual(t, it.Key.Offset, prevEnd, "item %v overlaps the one before", it.Key)
		require.Zero(t, len(it.Data)%g.size)
		n := len(it.Data) / g.size
		require.Positive(t, n)
		require.LessOrEqual(t, n, g.maxSums, "item %v holds %d sums", it.Key, n)
		for i := range n {
			got[it.Key.Offset+uint64(i)*g.sector] = it.Data[i*g.size : (i+1)*g.size]
		}
		prevEnd = g.end(it)
	}
	require.Equal(t, len(model), len(got), "sums in the tree")
	for s, sum := range model {
		require.Equal(t, sum, got[s], "sum of sector %d", s)
	}
}

func TestCsumInsertLookupDelete(t *testing.T) {
	fs := csumFS(t, 4096)
	g := fs.csumGeometry()
	const base = 1 << 30
	h, err := fs.Start(50)
	require.NoError(t, err)
	// Two runs that continue each other share one item.
	require.NoError(t, h.InsertCsums(base, fakeSums(fs, base, 10)))
	require.NoError(t, h.InsertCsums(base+10*g.sector, fakeSums(fs, base+10*g.sector, 6)))
	items := csumItems(t, fs)
	require.Len(t, items, 1)
	require.Len(t, items[0].Data, 16*g.size)
	got, err := fs.LookupCsums(base+3*g.sector, 9*g.sector)
	require.NoError(t, err)
	require.Equal(t, fakeSums(fs, base+3*g.sector, 9), got)

	// A hole: the error names the first sector without a sum.
	_, err = fs.LookupCsums(base+14*g.sector, 4*g.sector)
	var miss *CsumMissingError
	require.ErrorAs(t, err, &miss)
	require.ErrorIs(t, err, ErrNoCsum)
	require.Equal(t, uint64(base+16*g.sector), miss.Sector)

	// Deleting the middle splits the item; deleting an edge trims it.
	require.NoError(t, h.DeleteCsums(base+4*g.sector, 3*g.sector))
	require.NoError(t, h.DeleteCsums(base, g.sector))
	require.NoError(t, h.DeleteCsums(base+15*g.sector, 5*g.sector))
	items = csumItems(t, fs)
	require.Len(t, items, 2)
	require.Equal(t, uint64(base+g.sector), items[0].Key.Offset)
	require.Len(t, items[0].Data, 3*g.size)
	require.Equal(t, uint64(base+7*g.sector), items[1].Key.Offset)
	require.Len(t, items[1].Data, 8*g.size)
	_, err = fs.LookupCsums(base+3*g.sector, 2*g.sector)
	require.ErrorAs(t, err, &miss)
	require.Equal(t, uint64(base+4*g.sector), miss.Sector)

	// More than one item holds: several items, none above the limit.
	big := 3*g.maxSums + 17
	require.NoError(t, h.InsertCsums(2*base, fakeSums(fs, 2*base, big)))
	got, err = fs.LookupCsums(2*base, uint64(big)*g.sector)
	require.NoError(t, err)
	require.Equal(t, fakeSums(fs, 2*base, big), got)
	require.NoError(t, h.DeleteCsums(0, 4*base))
	require.Empty(t, csumItems(t, fs))
	require.NoError(t, h.End())
	require.NoError(t, fs.Close())
}

// TestCsumModel applies random inserts, overwrites and deletes of
// checksum runs to the csum tree and a map, with commits between rounds
// (the write-time checker sees every leaf), and compares them.
func TestCsumModel(t *testing.T) {
	for _, nodesize := range []uint32{4096, 16384} {
		t.Run(fmt.Sprintf("nodesize=%d", nodesize), func(t *testing.T) {
			testCsumModel(t, nodesize)
		})
	}
}

func testCsumModel(t *testing.T, nodesize uint32) {
	seed := refsSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	fs := csumFS(t, nodesize)
	g := fs.csumGeometry()
	model := map[uint64][]byte{}
	const span = 20000 // sectors the test works in
	base := uint64(1 << 32)
	for round := range 12 {
		h, err := fs.Start(60)
		require.NoError(t, err)
		for range 30 {
			start := base + uint64(rng.IntN(span))*g.sector
			n := 1 + rng.IntN([]int{4, 64, 3 * g.maxSums}[rng.IntN(3)])
			if rng.IntN(3) > 0 {
				sums := fakeSums(fs, start+uint64(round), n)
				require.NoError(t, h.InsertCsums(start, sums), "seed %d", seed)
				for i := range n {
					model[start+uint64(i)*g.sector] = sums[i*g.size : (i+1)*g.size]
				}
			} else {
				require.NoError(t, h.DeleteCsums(start, uint64(n)*g.sector), "seed %d", seed)
				for i := range n {
					delete(model, start+uint64(i)*g.sector)
				}
			}
		}
		requireCsumTree(t, fs, model)
		for range 20 {
			start := base + uint64(rng.IntN(span))*g.sector
			n := 1 + rng.IntN(300)
			got, err := fs.LookupCsums(start, uint64(n)*g.sector)
			first := -1
			for i := range n {
				if model[start+uint64(i)*g.sector] == nil {
					first = i
					break
				}
			}
			if first >= 0 {
				var miss *CsumMissingError
				require.ErrorAs(t, err, &miss, "seed %d", seed)
				require.Equal(t, start+uint64(first)*g.sector, miss.Sector, "seed %d", seed)
				continue
			}
			require.NoError(t, err)
			for i := range n {
				require.Equal(t, model[start+uint64(i)*g.sector], got[i*g.size:(i+1)*g.size], "seed %d", seed)
			}
		}
		require.NoError(t, h.End())
		require.NoError(t, fs.Commit())
	}
	// Leave the image clean: no checksum outside a data extent.
	h, err := fs.Start(100)
	require.NoError(t, err)
	require.NoError(t, h.DeleteCsums(0, 1<<40))
	require.NoError(t, h.End())
	require.Empty(t, csumItems(t, fs))
	require.NoError(t, fs.Close())
}

// TestCsumsFreedWithExtent: the commit deletes the checksums of a data
// extent whose last reference went, of one referenced and dropped in the
// same transaction, and of one never referenced (freeing its space).
func TestCsumsFreedWithExtent(t *testing.T) {
	fs := csumFS(t, 16384)
	g := fs.csumGeometry()
	const ino, size = 257, 64 << 10
	n := int(size / g.sector)
	h, err := fs.Start(10)
	require.NoError(t, err)
	kept, err := h.AllocData(size)
	require.NoError(t, err)
	require.NoError(t, h.InsertCsums(kept, fakeSums(fs, kept, n)))
	h.AddDataRef(kept, size, format.FSTreeObjectID, ino, 0, 1)
	canceled, err := h.AllocData(size)
	require.NoError(t, err)
	require.NoError(t, h.InsertCsums(canceled, fakeSums(fs, canceled, n)))
	h.AddDataRef(canceled, size, format.FSTreeObjectID, ino, size, 1)
	h.AddDataRef(canceled, size, format.FSTreeObjectID, ino, size, -1)
	unused, unusedLen, err := h.AllocDataUpTo(size, g.sector)
	require.NoError(t, err)
	require.Equal(t, uint64(size), unusedLen)
	require.NoError(t, h.InsertCsums(unused, fakeSums(fs, unused, n)))
	require.NoError(t, h.End())
	require.NoError(t, fs.Commit())
	require.NoError(t, fs.Alloc().Check())

	_, err = fs.LookupCsums(kept, size)
	require.NoError(t, err, "the referenced extent keeps its sums")
	for _, b := range []uint64{canceled, unused} {
		_, err = fs.LookupCsums(b, size)
		require.ErrorIs(t, err, ErrNoCsum, "extent %d", b)
	}
	require.Len(t, csumItems(t, fs), 1)

	h, err = fs.Start(10)
	require.NoError(t, err)
	h.AddDataRef(kept, size, format.FSTreeObjectID, ino, 0, -1)
	require.NoError(t, h.End())
	require.NoError(t, fs.Commit())
	require.Empty(t, csumItems(t, fs))
	require.NoError(t, fs.Alloc().Check())
	require.NoError(t, fs.Close())
}

// TestCsumItemSpanningExtents: one item covering several extents (as
// kernel-written images have) loses only the freed extent's sums.
func TestCsumItemSpanningExtents(t *testing.T) {
	fs := csumFS(t, 16384)
	g := fs.csumGeometry()
	h, err := fs.Start(10)
	require.NoError(t, err)
	var exts []uint64
	for i := range 3 {
		b, err := h.AllocData(4 * g.sector)
		require.NoError(t, err)
		require.NoError(t, h.InsertCsums(b, fakeSums(fs, b, 4)))
		h.AddDataRef(b, 4*g.sector, format.FSTreeObjectID, 257, uint64(i)<<20, 1)
		exts = append(exts, b)
	}
	require.True(t, slices.IsSorted(exts))
	require.Equal(t, exts[0]+8*g.sector, exts[2], "next-fit allocation keeps the extents contiguous")
	require.Len(t, csumItems(t, fs), 1, "contiguous runs share one item")
	require.NoError(t, h.End())
	require.NoError(t, fs.Commit())

	h, err = fs.Start(10)
	require.NoError(t, err)
	h.AddDataRef(exts[1], 4*g.sector, format.FSTreeObjectID, 257, 1<<20, -1)
	require.NoError(t, h.End())
	require.NoError(t, fs.Commit())
	items := csumItems(t, fs)
	require.Len(t, items, 2)
	for i, b := range []uint64{exts[0], exts[2]} {
		require.Equal(t, b, items[i].Key.Offset)
		require.Equal(t, fakeSums(fs, b, 4), items[i].Data)
	}
	_, err = fs.LookupCsums(exts[1], 4*g.sector)
	require.True(t, errors.Is(err, ErrNoCsum))

	h, err = fs.Start(10)
	require.NoError(t, err)
	h.AddDataRef(exts[0], 4*g.sector, format.FSTreeObjectID, 257, 0, -1)
	h.AddDataRef(exts[2], 4*g.sector, format.FSTreeObjectID, 257, 2<<20, -1)
	require.NoError(t, h.End())
	require.NoError(t, fs.Close())
}

// TestCsumReadersDuringTrims: readers looking up the sums of live sectors
// never miss one while other handles and commits trim, split and delete
// the items those sums share with dead sectors (a trim deletes an item and
// inserts its tail: LookupCsums must not see the gap).
func TestCsumReadersDuringTrims(t *testing.T) {
	fs := csumFS(t, 4096)
	g := fs.csumGeometry()
	const runs, run = 96, 8 // runs of 8 sectors, live and dead in turn
	base := uint64(1 << 32)
	h, err := fs.Start(40)
	require.NoError(t, err)
	all := fakeSums(fs, base, runs*run)
	require.NoError(t, h.InsertCsums(base, all))
	require.NoError(t, h.End())
	require.NoError(t, fs.Commit())
	runStart := func(i int) uint64 { return base + uint64(i*run)*g.sector }

	stop := make(chan struct{})
	errs := make(chan error, 2)
	for r := range 2 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				i := 2 * rng.IntN(runs/2) // live runs are the even ones
				got, err := fs.LookupCsums(runStart(i), run*g.sector)
				if err == nil && !slices.Equal(got, all[i*run*g.size:(i+1)*run*g.size]) {
					err = fmt.Errorf("run %d: wrong sums", i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(3, 9))
	for _, i := range rng.Perm(runs / 2) {
		h, err := fs.Start(20)
		require.NoError(t, err)
		require.NoError(t, h.DeleteCsums(runStart(2*i+1), run*g.sector))
		require.NoError(t, h.End())
		if i%4 == 0 {
			require.NoError(t, fs.Commit())
		}
	}
	close(stop)
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	h, err = fs.Start(100)
	require.NoError(t, err)
	require.NoError(t, h.DeleteCsums(0, 1<<40))
	require.NoError(t, h.End())
	require.NoError(t, fs.Close())
}
