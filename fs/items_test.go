package fs

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk/format"
)

func (tf *testFS) item(k format.Key) []byte {
	tf.t.Helper()
	b, err := ctree.Lookup(tf.root, k)
	require.NoError(tf.t, err, "%v", k)
	return b
}

func (tf *testFS) inodeItem(ino uint64) *format.InodeItem {
	tf.t.Helper()
	ii, err := format.DecodeInodeItem(tf.item(inodeKey(ino)))
	require.NoError(tf.t, err)
	return ii
}

// requireName checks the three items of a name and returns the entry.
func (tf *testFS) requireName(dir uint64, name string, ino uint64, typ uint8, index uint64) {
	t := tf.t
	t.Helper()
	refs, err := format.DecodeInodeRefs(tf.item(keyOf(ino, format.InodeRefKey, dir)))
	require.NoError(t, err)
	found := false
	for _, r := range refs {
		if string(r.Name) == name {
			require.Equal(t, index, r.Index)
			found = true
		}
	}
	require.True(t, found, "INODE_REF of %q", name)
	for _, k := range []format.Key{dirItemKey(dir, name), dirIndexKey(dir, index)} {
		di, err := format.DecodeDirItem(tf.item(k))
		require.NoError(t, err)
		ok := false
		for _, e := range di {
			if string(e.Name) == name {
				require.Equal(t, inodeKey(ino), e.Location)
				require.Equal(t, typ, e.Type)
				require.Empty(t, e.Data)
				require.NotZero(t, e.Transid)
				ok = true
			}
		}
		require.True(t, ok, "%v holds %q", k, name)
	}
}

// TestItems checks every field of the items the operations write, as
// btrfs-format.md §2.5 and §2.7 describe them.
func TestItems(t *testing.T) {
	tf := newTestFS(t)
	transid := tf.FS.t.Super().Generation + 1
	rootBefore := tf.inodeItem(RootIno)

	f, err := tf.Create(RootIno, "file", 0o640, Creator{UID: 11, GID: 22})
	require.NoError(t, err)
	ii := tf.inodeItem(f.Ino)
	require.Equal(t, format.InodeItem{Generation: transid, Transid: transid, Nlink: 1, UID: 11, GID: 22,
		Mode: syscall.S_IFREG | 0o640, Atime: ii.Atime, Ctime: ii.Atime, Mtime: ii.Atime, Otime: ii.Atime}, *ii)
	require.NotZero(t, ii.Atime.Sec)
	tf.requireName(RootIno, "file", f.Ino, format.FtRegFile, 2)
	root := tf.inodeItem(RootIno)
	require.EqualValues(t, 8, root.Size)
	require.Equal(t, transid, root.Transid)
	require.Equal(t, rootBefore.Nlink, root.Nlink)
	require.Equal(t, root.Mtime, root.Ctime)
	require.Equal(t, ii.Ctime, root.Mtime)
	require.Greater(t, root.Sequence, rootBefore.Sequence)

	d, err := tf.Mkdir(RootIno, "dir", 0o700, Creator{})
	require.NoError(t, err)
	di := tf.inodeItem(d.Ino)
	require.EqualValues(t, 1, di.Nlink)
	require.EqualValues(t, 0, di.Size)
	require.EqualValues(t, 0, di.Nbytes)
	require.EqualValues(t, syscall.S_IFDIR|0o700, di.Mode)
	tf.requireName(RootIno, "dir", d.Ino, format.FtDir, 3)

	s, err := tf.Symlink(d.Ino, "sym", "../file", Creator{})
	require.NoError(t, err)
	si := tf.inodeItem(s.Ino)
	require.EqualValues(t, 7, si.Size)
	require.EqualValues(t, 7, si.Nbytes)
	require.EqualValues(t, syscall.S_IFLNK|0o777, si.Mode)
	fe, err := format.DecodeFileExtent(tf.item(keyOf(s.Ino, format.ExtentDataKey, 0)))
	require.NoError(t, err)
	require.Equal(t, format.FileExtent{Generation: transid, RAMBytes: 7, Type: format.FileExtentInline,
		Inline: []byte("../file")}, *fe)
	tf.requireName(d.Ino, "sym", s.Ino, format.FtSymlink, 2)

	c, err := tf.Mknod(d.Ino, "null", syscall.S_IFCHR|0o666, 1<<8|3, Creator{})
	require.NoError(t, err)
	require.EqualValues(t, 1<<20|3, tf.inodeItem(c.Ino).Rdev)
	tf.requireName(d.Ino, "null", c.Ino, format.FtChrdev, 3)

	_, err = tf.Link(f.Ino, d.Ino, "hard")
	require.NoError(t, err)
	tf.requireName(d.Ino, "hard", f.Ino, format.FtRegFile, 4)
	require.EqualValues(t, 2, tf.inodeItem(f.Ino).Nlink)
	require.EqualValues(t, 2*len("symnullhard"), tf.inodeItem(d.Ino).Size)

	require.NoError(t, tf.Rename(d.Ino, "hard", RootIno, "moved", 0))
	tf.requireName(RootIno, "moved", f.Ino, format.FtRegFile, 4)
	refs, err := format.DecodeInodeRefs(tf.item(keyOf(f.Ino, format.InodeRefKey, RootIno)))
	require.NoError(t, err)
	require.Len(t, refs, 2, "two names in one parent share the INODE_REF item")
	_, err = ctree.Lookup(tf.root, keyOf(f.Ino, format.InodeRefKey, d.Ino))
	require.ErrorIs(t, err, ctree.ErrNotFound)
	_, err = ctree.Lookup(tf.root, dirIndexKey(d.Ino, 4))
	require.ErrorIs(t, err, ctree.ErrNotFound)

	require.NoError(t, tf.Rename(RootIno, "dir", RootIno, "dir2", 0))
	tf.requireName(RootIno, "dir2", d.Ino, format.FtDir, 5)
	require.EqualValues(t, 2*len("filemoveddir2"), tf.inodeItem(RootIno).Size)
	require.NoError(t, tf.SetXattr(f.Ino, "user.k", []byte("v"), 0))
	xi, err := format.DecodeDirItem(tf.item(xattrKey(f.Ino, "user.k")))
	require.NoError(t, err)
	require.Equal(t, format.DirItem{{Transid: transid, Type: format.FtXattr, Name: []byte("user.k"), Data: []byte("v")}}, xi)
	tf.reopen()
	require.NoError(t, tf.Unlink(RootIno, "moved"))
	require.EqualValues(t, 1, tf.inodeItem(f.Ino).Nlink)
	require.Greater(t, tf.inodeItem(f.Ino).Transid, transid)
}
