package fsck_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/fsck/fscktest"
	"cowfs/mkfs"
)

// TestXrefCleanDefaults: mkfs.btrfs defaults (DUP metadata, free-space
// tree) filled by the kernel, with 16 and 64 KiB nodes: no problem and no
// warning (the kernel keeps mkfs.btrfs's leftover FREE_SPACE_INFOs, notes).
func TestXrefCleanDefaults(t *testing.T) {
	t.Parallel()
	for _, opts := range [][]string{nil, {"-n", "65536"}} {
		img := kernelImage(t, opts...)
		requireNoWarnings(t, check(t, img))
		requireBtrfsCheck(t, img, true, "no error found")
	}
}

// TestCheckCleanMkfsDefaults: fresh mkfs.btrfs images with its defaults
// (DUP metadata, free-space tree) of several sizes and node sizes give no
// problem and no warning, like btrfs check. mkfs.btrfs 6.2 leaves the
// FREE_SPACE_INFOs of the two temporary block groups it deleted, below the
// first real one: those are notes.
func TestCheckCleanMkfsDefaults(t *testing.T) {
	t.Parallel()
	for _, size := range []int64{128 * mib, 1024 * mib, 5 << 30} {
		for _, ns := range []string{"4096", "16384", "65536"} {
			img := fscktest.Mkfs(t, size, "-n", ns)
			rep := check(t, img)
			requireNoWarnings(t, rep)
			requireTrees(t, rep)
			requireBtrfsCheck(t, img, true, "no error found")
		}
	}
}

// requireNoWarnings requires a clean report without warnings, and that its
// notes are mkfs.btrfs's leftover FREE_SPACE_INFOs.
func requireNoWarnings(t *testing.T, rep *fsck.Report) {
	t.Helper()
	requireClean(t, rep)
	for _, w := range rep.Warnings {
		t.Errorf("warning: %s", w.Message)
	}
	for _, n := range rep.Notes {
		t.Logf("note: %s", n.Message)
		require.Equal(t, fsck.KindFreeSpace, n.Kind, n.Message)
		require.Contains(t, n.Message, "leftover of mkfs.btrfs")
	}
}

// TestXrefCleanExotic: 4 KiB nodes without skinny metadata and NO_HOLES,
// compression, quotas, reflinks (keyed data backrefs), INODE_EXTREFs, a
// sparse file, a snapshot whose source changed (FULL_BACKREF blocks with
// shared block and data refs) and a received subvolume.
func TestXrefCleanExotic(t *testing.T) {
	t.Parallel()
	img := fscktest.Mkfs(t, 1024*mib, "-n", "4096", "-O", "^skinny-metadata,^no-holes")
	fscktest.PopulateWith(t, img, "compress=zlib", fscktest.ExoticFill(t))
	rep := check(t, img)
	requireClean(t, rep)
	requireBtrfsCheck(t, img, true, "no error found")
	requireBtrfsCheck(t, img, true, "no error found", "--check-data-csum")
	requireClean(t, checkWith(t, img, fsck.Options{CheckDataCsum: true}))
	full := fscktest.Items(t, img, format.ExtentTreeObjectID, func(k format.Key, data []byte) bool {
		return k.Type == format.ExtentItemKey && le.Uint64(data[16:])&format.ExtentFlagFullBackref != 0
	})
	require.NotEmpty(t, full, "the image should have FULL_BACKREF tree blocks")
	runCorruptions(t, img, []corruption{
		{"keyed data ref count", fsck.KindExtentRef, 51, mustFail, "referencer count mismatch", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, format.ExtentTreeObjectID, fscktest.KeyIs(0, format.ExtentDataRefKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { addU32(l.ItemData(s)[24:], 1) })
			fscktest.EditItem(t, img, extentItem(t, img, ref.Key.ObjectID), func(l format.Leaf, s int) { addU64(l.ItemData(s), 1) })
		}},
		{"shared data ref count", fsck.KindExtentRef, 51, mustFail, "", func(t *testing.T, img string) {
			editInlineRef(t, img, format.SharedDataRefKey, func(r *format.InlineRef) { r.Count++ }, true)
		}},
		{"shared block ref parent", fsck.KindExtentRef, 50, mustFail, "", func(t *testing.T, img string) {
			editInlineRef(t, img, format.SharedBlockRefKey, func(r *format.InlineRef) { r.Offset += 4096 }, false)
		}},
	})
}

// editInlineRef changes the first inline ref of type typ (re-encoding its
// extent item at the same size); with addRef the item's refs grows by one.
func editInlineRef(t *testing.T, img string, typ uint8, change func(*format.InlineRef), addRef bool) {
	t.Helper()
	index := func(k format.Key, data []byte) (*format.ExtentItem, int) {
		ei, err := format.DecodeExtentItem(data, k.Type)
		if err != nil {
			return nil, -1
		}
		for i, in := range ei.Inline {
			if in.Type == typ {
				return ei, i
			}
		}
		return nil, -1
	}
	ref := fscktest.FindItem(t, img, format.ExtentTreeObjectID, func(k format.Key, data []byte) bool {
		_, i := index(k, data)
		return i >= 0
	})
	fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) {
		ei, i := index(ref.Key, l.ItemData(s))
		change(&ei.Inline[i])
		if addRef {
			ei.Refs++
		}
		copy(l.ItemData(s), ei.Encode())
	})
}

// TestXrefCleanV1Cache: a 2 GiB image without free-space tree, whose data
// block group is large enough for the kernel to write a v1 space cache:
// file extents in the root tree, with data backrefs to root 1.
func TestXrefCleanV1Cache(t *testing.T) {
	t.Parallel()
	img := fscktest.Mkfs(t, 2048*mib, fscktest.Minimal...)
	fscktest.Populate(t, img, fscktest.KernelFill(t))
	require.NotEmpty(t, fscktest.Items(t, img, format.RootTreeObjectID, fscktest.KeyIs(0, format.ExtentDataKey)),
		"the kernel should have written a v1 space cache")
	// Data backrefs to root 1, which the kernel writes for its v1 cache,
	// pass the checker's #31 too: the whole report is clean.
	requireClean(t, check(t, img))
	requireBtrfsCheck(t, img, true, "no error found")
}

// TestXrefCleanCowfsMkfs: an image of our own mkfs, fresh and after the
// kernel filled it.
func TestXrefCleanCowfsMkfs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cowfs.img")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(256*mib))
	require.NoError(t, f.Close())
	dev, err := disk.OpenFile(path, disk.FileOptions{Buffered: true})
	require.NoError(t, err)
	_, err = mkfs.Make(dev, mkfs.DefaultOptions())
	require.NoError(t, err)
	require.NoError(t, dev.Close())
	requireClean(t, check(t, path))
	fscktest.Populate(t, path, fscktest.KernelFill(t))
	requireClean(t, check(t, path))
	requireBtrfsCheck(t, path, true, "no error found")
}

// TestXrefCleanChurn: deletions, renames, truncation, overwrites, holes,
// a partly written prealloc extent, NODATASUM data and a deleted
// subvolume; then a copy taken while an unlinked file is still open (an
// orphan inode with nlink 0).
func TestXrefCleanChurn(t *testing.T) {
	t.Parallel()
	img := fscktest.Mkfs(t, 512*mib, fscktest.Minimal...)
	fscktest.Populate(t, img, fscktest.ChurnFill(t))
	requireClean(t, check(t, img))
	requireBtrfsCheck(t, img, true, "no error found")
	live := fscktest.CopyMounted(t, img, func(dir string) func() {
		f, err := os.Create(filepath.Join(dir, "open-unlinked"))
		require.NoError(t, err)
		_, err = f.Write(make([]byte, 10000))
		require.NoError(t, err)
		require.NoError(t, os.Remove(f.Name()))
		return func() { f.Close() }
	})
	require.NotEmpty(t, fscktest.Items(t, live, format.FSTreeObjectID, fscktest.KeyIs(format.OrphanObjectID, format.OrphanItemKey)))
	requireClean(t, check(t, live))
	requireBtrfsCheck(t, live, true, "no error found")
}
