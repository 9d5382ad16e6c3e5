package fsck_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/fsck/fscktest"
)

var le = binary.LittleEndian

// kernelImage is a minimal mkfs.btrfs image the kernel filled with
// KernelFill: no free-space tree, a subvolume and its snapshot.
func kernelImage(t *testing.T, opts ...string) string {
	t.Helper()
	img := fscktest.Mkfs(t, 512*mib, opts...)
	fscktest.Populate(t, img, fscktest.KernelFill(t))
	return img
}

// btrfsCheck runs the oracle; it returns its output and whether it passed.
func btrfsCheck(t *testing.T, img string, args ...string) (string, bool) {
	t.Helper()
	fscktest.NeedTools(t, "btrfs")
	out, errs, code := fscktest.Output("btrfs", append(append([]string{"check"}, args...), img)...)
	return out + errs, code == 0
}

// requireBtrfsCheck requires the oracle to agree: clean, or failing and
// saying says.
func requireBtrfsCheck(t *testing.T, img string, clean bool, says string, args ...string) {
	t.Helper()
	out, ok := btrfsCheck(t, img, args...)
	t.Logf("btrfs check %v:\n%s", args, out)
	require.Equal(t, clean, ok, "btrfs check %v:\n%s", args, out)
	require.Contains(t, out, says, "btrfs check %v", args)
}

// logBtrfsCheck runs the oracle where it is not expected to notice, and
// logs what it said.
func logBtrfsCheck(t *testing.T, img string) {
	t.Helper()
	out, ok := btrfsCheck(t, img)
	t.Logf("btrfs check (not required to fail) passed=%t:\n%s", ok, out)
}

// requireRule requires a problem of kind and rule, and logs them all.
func requireRule(t *testing.T, rep *fsck.Report, kind fsck.Kind, rule int) fsck.Problem {
	t.Helper()
	for _, p := range rep.Problems {
		t.Logf("problem: %s", p.Message)
	}
	ps := problemsWith(rep, kind, rule)
	require.NotEmpty(t, ps, "no %v problem with rule #%d", kind, rule)
	require.Contains(t, ps[0].Message, "#")
	return ps[0]
}

// requireNoXref requires that no cross-reference rule (#49–#68) fired.
func requireNoXref(t *testing.T, rep *fsck.Report) {
	t.Helper()
	for _, p := range rep.Problems {
		if p.Rule >= 49 {
			t.Errorf("problem: %s", p.Message)
		}
	}
}

// entry returns the DIR_INDEX item of tree naming name.
func entry(t *testing.T, img string, tree uint64, name string) fscktest.ItemRef {
	t.Helper()
	return fscktest.FindItem(t, img, tree, func(k format.Key, data []byte) bool {
		if k.Type != format.DirIndexKey {
			return false
		}
		d, err := format.DecodeDirItem(data)
		return err == nil && string(d[0].Name) == name
	})
}

// inode returns the inode number name has in tree.
func inode(t *testing.T, img string, tree uint64, name string) uint64 {
	t.Helper()
	d, err := format.DecodeDirItem(entry(t, img, tree, name).Data)
	require.NoError(t, err)
	return d[0].Location.ObjectID
}

// fileExtent returns the first EXTENT_DATA item of inode ino.
func fileExtent(t *testing.T, img string, tree, ino uint64) (fscktest.ItemRef, *format.FileExtent) {
	t.Helper()
	ref := fscktest.FindItem(t, img, tree, fscktest.KeyIs(ino, format.ExtentDataKey))
	fe, err := format.DecodeFileExtent(ref.Data)
	require.NoError(t, err)
	return ref, fe
}

// extentItem returns the extent tree's EXTENT_ITEM or METADATA_ITEM at
// bytenr.
func extentItem(t *testing.T, img string, bytenr uint64) fscktest.ItemRef {
	t.Helper()
	return fscktest.FindItem(t, img, format.ExtentTreeObjectID, func(k format.Key, _ []byte) bool {
		return k.ObjectID == bytenr && (k.Type == format.ExtentItemKey || k.Type == format.MetadataItemKey)
	})
}

// fsLeaf is a leaf of the fs tree below a node.
func fsLeaf(t *testing.T, img string) fscktest.BlockRef {
	t.Helper()
	return fscktest.Find(t, img, func(b fscktest.BlockRef) bool {
		return b.Tree == format.FSTreeObjectID && b.Level == 0 && b.Parent != 0
	})
}

// bigData is the data extent of dir/big.bin (200 KiB, one extent).
func bigData(t *testing.T, img string) (fscktest.ItemRef, *format.FileExtent) {
	t.Helper()
	return fileExtent(t, img, format.FSTreeObjectID, inode(t, img, format.FSTreeObjectID, "big.bin"))
}

func addU64(p []byte, d uint64) { le.PutUint64(p, le.Uint64(p)+d) }

func addU32(p []byte, d uint32) { le.PutUint32(p, le.Uint32(p)+d) }

// setKey changes the key of the item at slot.
func setKey(l format.Leaf, slot int, change func(k *format.Key)) {
	k := l.ItemKey(slot)
	change(&k)
	l.SetItemKey(slot, k)
}

// rootItem decodes the ROOT_ITEM of tree id.
func rootItem(t *testing.T, img string, id uint64) *format.RootItem {
	t.Helper()
	ref := fscktest.FindItem(t, img, format.RootTreeObjectID, fscktest.KeyIs(id, format.RootItemKey))
	ri, err := format.DecodeRootItem(ref.Data)
	require.NoError(t, err)
	return ri
}

// checkWith runs fsck.Check with options on the image at path.
func checkWith(t *testing.T, path string, opts fsck.Options) *fsck.Report {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true, Buffered: true})
	require.NoError(t, err)
	defer dev.Close()
	rep, err := fsck.Check(dev, opts)
	require.NoError(t, err)
	return rep
}

// lastItem returns the last item of tree with key type typ.
func lastItem(t *testing.T, img string, tree uint64, typ uint8) fscktest.ItemRef {
	t.Helper()
	items := fscktest.Items(t, img, tree, fscktest.KeyIs(0, typ))
	require.NotEmpty(t, items)
	return items[len(items)-1]
}
