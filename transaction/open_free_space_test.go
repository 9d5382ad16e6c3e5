package transaction

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/fsck/fscktest"
)

// openGroups opens img read-only and returns where its free space came
// from and every group's counters.
func openGroups(t *testing.T, img string, ignoreTree bool) (string, []any) {
	t.Helper()
	o := testOptions()
	o.ReadOnly, o.IgnoreFreeSpaceTree = true, ignoreTree
	fs, err := OpenFile(img, o)
	require.NoError(t, err)
	defer fs.Close()
	require.NoError(t, fs.Alloc().Check())
	var out []any
	for _, g := range fs.Alloc().Groups() {
		out = append(out, g)
	}
	return fs.FreeSpaceSource(), out
}

// TestOpenFreeSpaceTree: default mkfs.btrfs images (free-space tree) the
// kernel filled — one with extents only, one whose data group the kernel
// keeps in bitmaps — open with their free space read from the tree, and
// every group's counters equal those derived from the extent tree.
func TestOpenFreeSpaceTree(t *testing.T) {
	t.Parallel()
	for name, fill := range kernelFills(t) {
		t.Run(name, func(t *testing.T) {
			img := kernelFilled(t, fill)
			fscktest.RequireClean(t, img)
			bitmaps := fscktest.Items(t, img, format.FreeSpaceTreeObjectID, fscktest.KeyIs(0, format.FreeSpaceBitmapKey))
			require.Equal(t, name == "bitmaps", len(bitmaps) > 0, "bitmap items: %d", len(bitmaps))
			src, byTree := openGroups(t, img, false)
			require.Equal(t, FreeSpaceFromTree, src)
			src, byExtents := openGroups(t, img, true)
			require.Equal(t, FreeSpaceFromExtents, src)
			require.Equal(t, byExtents, byTree)
		})
	}
}

// TestOpenFreeSpaceTreeCorrupt: a free-space tree the kernel would refuse
// (a wrong extent_count, a group without FREE_SPACE_INFO) fails the open
// with one line naming the group; derived from the extent tree instead,
// the same image opens.
func TestOpenFreeSpaceTreeCorrupt(t *testing.T) {
	t.Parallel()
	base := fscktest.Mkfs(t, 512<<20)
	fscktest.Populate(t, base, fscktest.KernelFill(t))
	lastInfo := func(img string) fscktest.ItemRef {
		infos := fscktest.Items(t, img, format.FreeSpaceTreeObjectID, fscktest.KeyIs(0, format.FreeSpaceInfoKey))
		return infos[len(infos)-1]
	}
	for name, c := range map[string]struct {
		edit func(img string)
		says string
	}{
		"extent count": {func(img string) {
			fscktest.EditItem(t, img, lastInfo(img), func(l format.Leaf, s int) {
				p := l.ItemData(s)
				binary.LittleEndian.PutUint32(p, binary.LittleEndian.Uint32(p)+1)
			})
		}, "extent_count"},
		"no info": {func(img string) { fscktest.DeleteItem(t, img, lastInfo(img)) }, "outside the block group"},
	} {
		t.Run(name, func(t *testing.T) {
			img := fscktest.Copy(t, base)
			c.edit(img)
			o := testOptions()
			o.ReadOnly = true
			_, err := OpenFile(img, o)
			require.ErrorIs(t, err, format.ErrCorrupt)
			require.Contains(t, err.Error(), c.says)
			t.Log(err)
			src, _ := openGroups(t, img, true)
			require.Equal(t, FreeSpaceFromExtents, src)
		})
	}
}

// churnXattrs inserts xattrs from to to+n of size bytes on the root
// directory in batches of 100, committing after each, then deletes every
// other one and commits: tree blocks are allocated, freed and reused.
func churnXattrs(t *testing.T, fs *FS, from, n, size int) {
	t.Helper()
	root, err := fs.Tree(format.FSTreeObjectID)
	require.NoError(t, err)
	for b := from; b < from+n; b += 100 {
		h, err := fs.Start(100)
		require.NoError(t, err)
		for i := b; i < min(from+n, b+100); i++ {
			k, d := xattrItem(i, size)
			require.NoError(t, ctree.InsertItem(h, root, k, d))
		}
		require.NoError(t, h.End())
		require.NoError(t, fs.Commit())
	}
	for b := from; b < from+n; b += 200 {
		h, err := fs.Start(100)
		require.NoError(t, err)
		for i := b; i < min(from+n, b+200); i += 2 {
			k, _ := xattrItem(i, size)
			require.NoError(t, ctree.DeleteItem(h, root, k))
		}
		require.NoError(t, h.End())
		require.NoError(t, fs.Commit())
	}
	require.NoError(t, fs.Alloc().Check())
}

// bitmapGroups counts the FREE_SPACE_INFOs in bitmaps, and requires each
// to list more free extents than the extent form's threshold allows, or
// no fewer than the low one (the form changes only when crossing one).
func bitmapGroups(t *testing.T, img string) int {
	t.Helper()
	n := 0
	for _, it := range fscktest.Items(t, img, format.FreeSpaceTreeObjectID, fscktest.KeyIs(0, format.FreeSpaceInfoKey)) {
		fi, err := format.DecodeFreeSpaceInfo(it.Data)
		require.NoError(t, err)
		t.Logf("%v: %d extents, flags %d", it.Key, fi.ExtentCount, fi.Flags)
		if fi.Flags&format.FreeSpaceUsingBitmaps != 0 {
			_, low := format.FreeSpaceThresholds(it.Key.Offset, 4096)
			require.GreaterOrEqual(t, uint64(fi.ExtentCount), low, "%v", it.Key)
			n++
		}
	}
	return n
}

// TestKeepFreeSpaceTree: default mkfs.btrfs images the kernel filled (one
// in extents, one whose data group is in bitmaps) open read-write, take
// thousands of items and deletions over many commits, and stay clean for
// our fsck and btrfs check (both modes), the free-space tree included; the
// fragmented metadata group turns to bitmaps; two new chunks get their
// FREE_SPACE_INFO; reopened, the tree gives the counters the extent tree
// gives; the kernel then writes files, allocating from that tree, and the
// image stays clean.
func TestKeepFreeSpaceTree(t *testing.T) {
	t.Parallel()
	for name, fill := range kernelFills(t) {
		t.Run(name, func(t *testing.T) {
			img := kernelFilled(t, fill)
			t.Cleanup(func() { requireCleanImage(t, img) })
			before := bitmapGroups(t, img)
			fs, err := OpenFile(img, testOptions())
			require.NoError(t, err)
			require.Equal(t, FreeSpaceFromTree, fs.FreeSpaceSource())
			churnXattrs(t, fs, 0, 3000, 900)
			groups := len(fs.Alloc().Groups())
			for _, typ := range []uint64{format.BlockGroupData, format.BlockGroupMetadata} {
				_, err := fs.Alloc().NewChunk(typ)
				require.NoError(t, err)
			}
			churnXattrs(t, fs, 3000, 200, 900)
			fst, err := fs.Tree(format.FreeSpaceTreeObjectID)
			require.NoError(t, err)
			cows := fst.Stats().COWs
			t.Logf("free-space tree COWs by level: %v, re-COWs %v", cows, fst.Stats().ReCOWs)
			require.NotZero(t, cows[0], "the tree's leaves are COWed through shouldCOW and counted per tree")
			require.NoError(t, fs.Close())
			infos := fscktest.Items(t, img, format.FreeSpaceTreeObjectID, fscktest.KeyIs(0, format.FreeSpaceInfoKey))
			require.Len(t, infos, groups+2+2, "an info per group, the new two and mkfs.btrfs's two leftovers")
			if name == "extents" {
				require.Zero(t, before, "the kernel's image in extents only")
				require.Positive(t, bitmapGroups(t, img), "the churned metadata group should have crossed the bitmap threshold")
			}
			fscktest.RequireClean(t, img)
			_, byTree := openGroups(t, img, false)
			_, byExtents := openGroups(t, img, true)
			require.Equal(t, byExtents, byTree)
			// The kernel allocates from the tree cowfs wrote: a byte listed
			// free but in use would be written over, and checks would fail.
			fscktest.Populate(t, img, func(dir string) {
				sub := filepath.Join(dir, "after")
				require.NoError(t, os.Mkdir(sub, 0o755))
				fscktest.FragmentFill(t, 500)(sub)
			})
			fscktest.RequireClean(t, img)
		})
	}
}

// kernelFills are the kernel's fills of a default mkfs.btrfs image: one
// leaves its free space in extents, one fragments the data group until the
// kernel keeps it in bitmaps.
func kernelFills(t *testing.T) map[string]func(string) {
	return map[string]func(string){
		"extents": fscktest.KernelFill(t),
		"bitmaps": fscktest.FragmentFill(t, 3000),
	}
}

// kernelFilled is a default 512 MiB mkfs.btrfs image the kernel filled.
func kernelFilled(t *testing.T, fill func(string)) string {
	img := fscktest.Mkfs(t, 512<<20)
	fscktest.Populate(t, img, fill)
	return img
}
