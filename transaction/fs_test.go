package transaction

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck/fscktest"
	"cowfs/mkfs"
)

// fsImage is an image file made by cowfs mkfs; at cleanup our fsck and
// btrfs check must find it clean.
func fsImage(t *testing.T, size int64) string {
	t.Helper()
	return fsImageNodes(t, size, 16384)
}

// fsImageNodes is fsImage with the given node size.
func fsImageNodes(t *testing.T, size int64, nodesize uint32) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fs.img")
	dev, err := disk.OpenFile(path, disk.FileOptions{Create: true, Size: size})
	require.NoError(t, err)
	o := mkfs.DefaultOptions()
	o.NodeSize = nodesize
	_, err = mkfs.Make(dev, o)
	require.NoError(t, err)
	require.NoError(t, dev.Close())
	t.Cleanup(func() { requireCleanImage(t, path) })
	return path
}

// requireCleanImage runs our fsck and btrfs check on path.
func requireCleanImage(t *testing.T, path string) {
	t.Helper()
	if !t.Failed() {
		fscktest.RequireClean(t, path)
	}
}

func testOptions() Options {
	o := DefaultOptions()
	o.CommitInterval = -1
	return o
}

// xattrItem is an XATTR_ITEM on the root directory (inode 256) named
// user.cowfs.<n> with a value of size bytes.
func xattrItem(n, size int) (format.Key, []byte) {
	name := fmt.Sprintf("user.cowfs.%d", n)
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(n + i)
	}
	d := format.DirItem{{Transid: 1, Type: format.FtXattr, Name: []byte(name), Data: value}}
	return format.Key{ObjectID: format.FirstFreeObjectID, Type: format.XattrItemKey, Offset: format.NameHash([]byte(name))}, d.Encode()
}

func TestSmokeCommit(t *testing.T) {
	path := fsImage(t, 256<<20)
	fs, err := OpenFile(path, testOptions())
	require.NoError(t, err)
	root, err := fs.Tree(format.FSTreeObjectID)
	require.NoError(t, err)
	for batch := 0; batch < 5; batch++ {
		h, err := fs.Start(100)
		require.NoError(t, err)
		for i := 0; i < 100; i++ {
			k, d := xattrItem(batch*100+i, 100+i*7)
			require.NoError(t, ctree.InsertItem(h, root, k, d))
		}
		require.NoError(t, h.End())
		require.NoError(t, fs.Commit())
		require.NoError(t, fs.Alloc().Check())
	}
	require.NoError(t, fs.Close())
	if keep := os.Getenv("COWFS_KEEP"); keep != "" {
		data, _ := os.ReadFile(path)
		os.WriteFile(keep, data, 0o644)
	}
}
