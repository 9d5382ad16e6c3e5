package fs

import (
	"bytes"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

func TestXattr(t *testing.T) {
	tf := newTestFS(t)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	ino := f.Ino
	require.NoError(t, tf.SetXattr(ino, "user.a", []byte("1"), 0))
	require.NoError(t, tf.SetXattr(ino, "user.empty", nil, 0))
	require.NoError(t, tf.SetXattr(ino, "trusted.t", []byte("tt"), XattrCreate))
	requireErrno(t, tf.SetXattr(ino, "user.a", []byte("2"), XattrCreate), syscall.EEXIST)
	requireErrno(t, tf.SetXattr(ino, "user.b", []byte("2"), XattrReplace), syscall.ENODATA)
	require.NoError(t, tf.SetXattr(ino, "user.a", []byte("22"), XattrReplace))
	requireErrno(t, tf.SetXattr(ino, "", []byte("2"), 0), syscall.ERANGE)
	requireErrno(t, tf.SetXattr(ino, "user."+strings.Repeat("x", 251), []byte("2"), 0), syscall.ERANGE)
	requireErrno(t, tf.SetXattr(ino, "os2.x", []byte("2"), 0), syscall.EOPNOTSUPP)
	requireErrno(t, tf.SetXattr(ino, "user.big", make([]byte, XattrSizeMax+1), 0), syscall.E2BIG)
	requireErrno(t, tf.SetXattr(ino, "user.big", make([]byte, 16300), 0), syscall.ENOSPC)
	requireErrno(t, tf.SetXattr(ino, "user.x", nil, 4), syscall.EINVAL)
	requireErrno(t, tf.SetXattr(99999, "user.x", nil, 0), syscall.ENOENT)
	max := int(format.MaxItemSize(16384)) - format.DirEntryHeaderSize - len("user.max")
	require.NoError(t, tf.SetXattr(ino, "user.max", bytes.Repeat([]byte{7}, max), 0))
	requireErrno(t, tf.SetXattr(ino, "user.max", bytes.Repeat([]byte{7}, max+1), 0), syscall.ENOSPC)
	require.NoError(t, tf.SetXattr(tf.Root(), "user.onroot", []byte("r"), 0))

	v, err := tf.GetXattr(ino, "user.a")
	require.NoError(t, err)
	require.Equal(t, "22", string(v))
	v, err = tf.GetXattr(ino, "user.empty")
	require.NoError(t, err)
	require.Empty(t, v)
	_, err = tf.GetXattr(ino, "user.none")
	requireErrno(t, err, syscall.ENODATA)
	names, err := tf.ListXattr(ino)
	require.NoError(t, err)
	slices.Sort(names)
	require.Equal(t, []string{"trusted.t", "user.a", "user.empty", "user.max"}, names)

	requireErrno(t, tf.RemoveXattr(ino, "user.none"), syscall.ENODATA)
	require.NoError(t, tf.RemoveXattr(ino, "user.a"))
	_, err = tf.GetXattr(ino, "user.a")
	requireErrno(t, err, syscall.ENODATA)
	tf.reopen()
	names, err = tf.ListXattr(ino)
	require.NoError(t, err)
	require.Len(t, names, 3)
	v, err = tf.GetXattr(ino, "user.max")
	require.NoError(t, err)
	require.Len(t, v, max)
	v, err = tf.GetXattr(tf.Root(), "user.onroot")
	require.NoError(t, err)
	require.Equal(t, "r", string(v))
	// Xattrs go with their inode.
	require.NoError(t, tf.Unlink(tf.Root(), "f"))
	items, err := tf.scan(keyOf(ino, 0, 0), keyOf(ino+1, 0, 0))
	require.NoError(t, err)
	require.Empty(t, items)
}

// TestXattrCollisions: names with one hash share an XATTR_ITEM.
func TestXattrCollisions(t *testing.T) {
	tf := newTestFS(t)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	names := append([]string{"user.base"}, collidingNames(t, "user.base", 3)...)
	for i, n := range names {
		require.NoError(t, tf.SetXattr(f.Ino, n, bytes.Repeat([]byte{byte(i)}, 100*(i+1)), 0))
	}
	items, err := tf.scan(keyOf(f.Ino, format.XattrItemKey, 0), keyOf(f.Ino, format.XattrItemKey+1, 0))
	require.NoError(t, err)
	require.Len(t, items, 1, "one shared item")
	di, err := format.DecodeDirItem(items[0].Data)
	require.NoError(t, err)
	require.Len(t, di, 4)
	// Replace and remove in the middle of the shared item.
	require.NoError(t, tf.SetXattr(f.Ino, names[1], []byte("short"), XattrReplace))
	require.NoError(t, tf.RemoveXattr(f.Ino, names[2]))
	tf.reopen()
	for i, n := range names {
		v, err := tf.GetXattr(f.Ino, n)
		switch i {
		case 1:
			require.NoError(t, err)
			require.Equal(t, "short", string(v))
		case 2:
			requireErrno(t, err, syscall.ENODATA)
		default:
			require.NoError(t, err)
			require.Equal(t, bytes.Repeat([]byte{byte(i)}, 100*(i+1)), v)
		}
	}
	// A value that fits alone but not beside the others.
	max := int(format.MaxItemSize(16384)) - format.DirEntryHeaderSize - len(names[2])
	requireErrno(t, tf.SetXattr(f.Ino, names[2], make([]byte, max), 0), syscall.ENOSPC)
}

// TestNameCollisions: names with one hash share a DIR_ITEM; each has its
// own DIR_INDEX; removing one leaves the others.
func TestNameCollisions(t *testing.T) {
	tf := newTestFS(t)
	names := append([]string{"base"}, collidingNames(t, "base", 4)...)
	for i, n := range names {
		if i%2 == 0 {
			_, err := tf.Create(tf.Root(), n, 0o644, Creator{})
			require.NoError(t, err)
		} else {
			_, err := tf.Mkdir(tf.Root(), n, 0o755, Creator{})
			require.NoError(t, err)
		}
	}
	items, err := tf.scan(keyOf(RootIno, format.DirItemKey, 0), keyOf(RootIno, format.DirItemKey+1, 0))
	require.NoError(t, err)
	require.Len(t, items, 1)
	di, err := format.DecodeDirItem(items[0].Data)
	require.NoError(t, err)
	require.Len(t, di, 5)
	_, err = tf.Create(tf.Root(), names[3], 0o644, Creator{})
	requireErrno(t, err, syscall.EEXIST)
	require.NoError(t, tf.Rmdir(tf.Root(), names[1]))
	require.NoError(t, tf.Rename(tf.Root(), names[2], tf.Root(), "other", 0))
	tf.reopen()
	got := tf.names(tf.Root())
	require.Len(t, got, 4)
	for _, n := range []string{names[0], names[3], names[4], "other"} {
		a, err := tf.Lookup(tf.Root(), n)
		require.NoError(t, err, n)
		require.Equal(t, got[n].Ino, a.Ino)
	}
	_, err = tf.Lookup(tf.Root(), names[1])
	requireErrno(t, err, syscall.ENOENT)
}
