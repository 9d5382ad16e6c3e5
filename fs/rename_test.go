package fs

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRename(t *testing.T) {
	tf := newTestFS(t)
	root := tf.Root()
	mk := func(dir uint64, name string) Attr {
		a, err := tf.Mkdir(dir, name, 0o755, Creator{})
		require.NoError(t, err)
		return a
	}
	cr := func(dir uint64, name string) Attr {
		a, err := tf.Create(dir, name, 0o644, Creator{})
		require.NoError(t, err)
		return a
	}
	a, b := mk(root, "a"), mk(root, "b")
	sub := mk(a.Ino, "sub")
	f := cr(a.Ino, "f")
	g := cr(b.Ino, "g")

	// Within a directory, across directories, and back.
	require.NoError(t, tf.Rename(a.Ino, "f", a.Ino, "f2", 0))
	require.NoError(t, tf.Rename(a.Ino, "f2", b.Ino, "f", 0))
	got, err := tf.Lookup(b.Ino, "f")
	require.NoError(t, err)
	require.Equal(t, f.Ino, got.Ino)
	_, err = tf.Lookup(a.Ino, "f")
	requireErrno(t, err, syscall.ENOENT)

	// A directory moves: its INODE_REF (its "..") follows.
	require.NoError(t, tf.Rename(a.Ino, "sub", b.Ino, "sub", 0))
	p, err := tf.Parent(sub.Ino)
	require.NoError(t, err)
	require.Equal(t, b.Ino, p)
	dd, err := tf.Lookup(sub.Ino, "..")
	require.NoError(t, err)
	require.Equal(t, b.Ino, dd.Ino)

	// Onto an existing file: the target loses its name (and here its inode).
	require.NoError(t, tf.Rename(b.Ino, "f", b.Ino, "g", 0))
	_, err = tf.GetAttr(g.Ino)
	requireErrno(t, err, syscall.ENOENT)
	got, err = tf.Lookup(b.Ino, "g")
	require.NoError(t, err)
	require.Equal(t, f.Ino, got.Ino)

	// Directory onto an empty directory; not onto a non-empty one.
	e := mk(root, "empty")
	require.NoError(t, tf.Rename(b.Ino, "sub", root, "empty", 0))
	_, err = tf.GetAttr(e.Ino)
	requireErrno(t, err, syscall.ENOENT)
	mk(root, "full")
	cr(mustLookup(t, tf, root, "full"), "x")
	requireErrno(t, tf.Rename(root, "empty", root, "full", 0), syscall.ENOTEMPTY)
	// Type mismatches.
	requireErrno(t, tf.Rename(root, "empty", b.Ino, "g", 0), syscall.ENOTDIR)
	requireErrno(t, tf.Rename(b.Ino, "g", root, "full", 0), syscall.EISDIR)
	// Below itself.
	requireErrno(t, tf.Rename(root, "b", root, "b", 0), nil0)
	requireErrno(t, tf.Rename(root, "b", b.Ino, "x", 0), syscall.EINVAL)
	inner := mk(sub.Ino, "inner")
	requireErrno(t, tf.Rename(root, "empty", inner.Ino, "x", 0), syscall.EINVAL)
	// Missing source, bad flags, NOREPLACE.
	requireErrno(t, tf.Rename(root, "nope", root, "x", 0), syscall.ENOENT)
	requireErrno(t, tf.Rename(root, "b", root, "x", 3), syscall.EINVAL)
	requireErrno(t, tf.Rename(root, "b", root, "x", 8), syscall.EINVAL)
	requireErrno(t, tf.Rename(root, "b", root, "full", RenameNoReplace), syscall.EEXIST)
	require.NoError(t, tf.Rename(root, "b", root, "b2", RenameNoReplace))
	requireErrno(t, tf.Rename(root, "b2", root, "..", 0), syscall.EINVAL)

	// Two names of one inode: nothing happens.
	_, err = tf.Link(f.Ino, root, "hard")
	require.NoError(t, err)
	require.NoError(t, tf.Rename(b.Ino, "g", root, "hard", 0))
	require.Contains(t, tf.names(b.Ino), "g")
	require.Contains(t, tf.names(root), "hard")

	tf.reopen()
	// Exchange a file and a directory across directories.
	require.NoError(t, tf.Rename(root, "hard", sub.Ino, "inner", RenameExchange))
	got, err = tf.Lookup(root, "hard")
	require.NoError(t, err)
	require.Equal(t, inner.Ino, got.Ino)
	got, err = tf.Lookup(sub.Ino, "inner")
	require.NoError(t, err)
	require.Equal(t, f.Ino, got.Ino)
	p, err = tf.Parent(inner.Ino)
	require.NoError(t, err)
	require.Equal(t, root, p)
	requireErrno(t, tf.Rename(root, "hard", root, "nope", RenameExchange), syscall.ENOENT)
	// Exchanging a directory with something below it.
	requireErrno(t, tf.Rename(root, "empty", sub.Ino, "inner", RenameExchange), syscall.EINVAL)
	tf.reopen()
	for _, d := range []uint64{root, b.Ino, sub.Ino} {
		a, err := tf.GetAttr(d)
		require.NoError(t, err)
		size := 0
		for n := range tf.names(d) {
			size += 2 * len(n)
		}
		require.EqualValues(t, size, a.Size, "size of directory %d", d)
	}
}

// nil0 is "no errno": requireErrno accepts success for it.
const nil0 = syscall.Errno(0)

func mustLookup(t *testing.T, tf *testFS, dir uint64, name string) uint64 {
	t.Helper()
	a, err := tf.Lookup(dir, name)
	require.NoError(t, err)
	return a.Ino
}
