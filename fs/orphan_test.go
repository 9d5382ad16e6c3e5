package fs

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

func (tf *testFS) orphans() []uint64 {
	tf.t.Helper()
	items, err := tf.scan(keyOf(format.OrphanObjectID, format.OrphanItemKey, 0),
		keyOf(format.OrphanObjectID, format.OrphanItemKey+1, 0))
	require.NoError(tf.t, err)
	var out []uint64
	for _, it := range items {
		out = append(out, it.Key.Offset)
	}
	return out
}

// TestOrphanRelease: the last name of an open file goes; the inode stays
// (nlink 0, ORPHAN_ITEM) and works until its last release deletes it.
func TestOrphanRelease(t *testing.T) {
	tf := newTestFS(t)
	rng := testRand(t)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	data := randBytes(rng, 100000)
	tf.write(f.Ino, data, 0)
	require.NoError(t, tf.Sync())
	require.NoError(t, tf.OpenFile(f.Ino))
	require.NoError(t, tf.OpenFile(f.Ino))
	require.NoError(t, tf.Unlink(tf.Root(), "f"))
	require.Equal(t, []uint64{f.Ino}, tf.orphans())
	a, err := tf.GetAttr(f.Ino)
	require.NoError(t, err)
	require.Zero(t, a.Nlink)
	tf.write(f.Ino, []byte("more"), 100000)
	require.Equal(t, append(data, "more"...), tf.readAll(f.Ino))
	require.NoError(t, tf.Sync())
	requireClean(t, tf.path) // nlink 0 with an orphan item is consistent
	require.NoError(t, tf.ReleaseFile(f.Ino))
	_, err = tf.GetAttr(f.Ino)
	require.NoError(t, err)
	require.NoError(t, tf.ReleaseFile(f.Ino))
	_, err = tf.GetAttr(f.Ino)
	requireErrno(t, err, syscall.ENOENT)
	require.Empty(t, tf.orphans())
	requireErrno(t, tf.ReleaseFile(f.Ino), syscall.EBADF)
	_, err = tf.Write(f.Ino, []byte("x"), 0)
	requireErrno(t, err, syscall.ENOENT)
	items, err := tf.scan(keyOf(f.Ino, 0, 0), keyOf(f.Ino+1, 0, 0))
	require.NoError(t, err)
	require.Empty(t, items)
}

// TestOrphanCleanup: an orphan left by a session that ended with the file
// open is deleted by the next read-write open.
func TestOrphanCleanup(t *testing.T) {
	tf := newTestFS(t)
	rng := testRand(t)
	d, err := tf.Mkdir(tf.Root(), "d", 0o755, Creator{})
	require.NoError(t, err)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	tf.write(f.Ino, randBytes(rng, 300000), 0)
	require.NoError(t, tf.SetXattr(f.Ino, "user.x", []byte("v"), 0))
	require.NoError(t, tf.OpenFile(f.Ino))
	require.NoError(t, tf.OpenFile(d.Ino))
	require.NoError(t, tf.Unlink(tf.Root(), "f"))
	require.NoError(t, tf.Rmdir(tf.Root(), "d"))
	require.ElementsMatch(t, []uint64{f.Ino, d.Ino}, tf.orphans())
	require.NoError(t, tf.Close())
	requireClean(t, tf.path)
	// A read-only open leaves them.
	ro := tf.opts
	ro.Transaction.ReadOnly = true
	fs, err := Open(tf.path, ro)
	require.NoError(t, err)
	a, err := fs.GetAttr(f.Ino)
	require.NoError(t, err)
	require.Zero(t, a.Nlink)
	require.NoError(t, fs.Close())
	tf.open()
	require.Empty(t, tf.orphans())
	for _, ino := range []uint64{f.Ino, d.Ino} {
		_, err = tf.GetAttr(ino)
		requireErrno(t, err, syscall.ENOENT)
	}
	st, err := tf.StatFs()
	require.NoError(t, err)
	require.EqualValues(t, 1, st.Files-st.Ffree, "only the root directory is left")
}

// TestEvictManyExtents: an inode with more extents than one handle may
// delete is truncated in steps, then deleted; not open, open (released),
// and replaced by a rename.
func TestEvictManyExtents(t *testing.T) {
	tf := newTestFS(t)
	tf.evictChunk = 16
	rng := testRand(t)
	mk := func(name string, extents int) uint64 {
		a, err := tf.Create(tf.Root(), name, 0o644, Creator{})
		require.NoError(t, err)
		for i := 0; i < extents; i++ { // separate runs: one extent each
			tf.write(a.Ino, randBytes(rng, 4096), uint64(i)*8192)
		}
		require.NoError(t, tf.Fallocate(a.Ino, FallocKeepSize, uint64(extents)*8192, 3*4096))
		require.NoError(t, tf.Sync())
		require.Len(t, tf.extentItems(a.Ino), extents+1)
		return a.Ino
	}
	gone := func(ino uint64) {
		items, err := tf.scan(keyOf(ino, 0, 0), keyOf(ino+1, 0, 0))
		require.NoError(t, err)
		require.Empty(t, items)
	}
	a := mk("a", 100)
	require.NoError(t, tf.Unlink(tf.Root(), "a"))
	gone(a)
	b := mk("b", 50)
	require.NoError(t, tf.OpenFile(b))
	require.NoError(t, tf.Unlink(tf.Root(), "b"))
	require.NoError(t, tf.ReleaseFile(b))
	gone(b)
	c := mk("c", 40)
	_, err := tf.Create(tf.Root(), "d", 0o644, Creator{})
	require.NoError(t, err)
	require.NoError(t, tf.Rename(tf.Root(), "d", tf.Root(), "c", 0))
	gone(c)
	require.Empty(t, tf.orphans())
	require.NoError(t, tf.Sync())
	st, err := tf.StatFs()
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Files-st.Ffree)
}

// TestTruncateInSteps: a truncation dropping more extents than one handle
// may runs in steps under an orphan item; one interrupted after its first
// steps is finished by the next open.
func TestTruncateInSteps(t *testing.T) {
	tf := newTestFS(t)
	tf.evictChunk = 16
	rng := testRand(t)
	a, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	var want []byte
	for i := 0; i < 100; i++ {
		p := randBytes(rng, 4096)
		tf.write(a.Ino, p, uint64(i)*8192)
		want = append(append(want, p...), make([]byte, 4096)...)
	}
	want = want[:len(want)-4096]
	require.NoError(t, tf.Sync())
	size := uint64(10*8192 + 100)
	_, err = tf.SetAttr(a.Ino, SetAttrIn{Size: &size})
	require.NoError(t, err)
	want = want[:size]
	require.Equal(t, want, tf.readAll(a.Ino))
	require.Len(t, tf.extentItems(a.Ino), 11)
	require.Empty(t, tf.orphans())
	tf.reopen()
	tf.evictChunk = 16

	// Interrupted: the size and the orphan item are set, some steps ran.
	b, err := tf.Create(tf.Root(), "g", 0o644, Creator{})
	require.NoError(t, err)
	for i := 0; i < 60; i++ {
		tf.write(b.Ino, randBytes(rng, 4096), uint64(i)*8192)
	}
	require.NoError(t, tf.Sync())
	st := tf.pin(b.Ino)
	st.mu.Lock()
	require.NoError(t, tf.load(st))
	steps, _, err := tf.dropPlan(b.Ino, 8192)
	require.NoError(t, err)
	require.Len(t, steps, 3)
	require.NoError(t, tf.startTruncate(st, 8192, steps[:1]))
	st.mu.Unlock()
	tf.unpin(st)
	require.Equal(t, []uint64{b.Ino}, tf.orphans())
	tf.reopen() // the image is checked here: an orphan item beside names is consistent
	require.Empty(t, tf.orphans())
	require.Len(t, tf.extentItems(b.Ino), 1)
	got, err := tf.GetAttr(b.Ino)
	require.NoError(t, err)
	require.EqualValues(t, 8192, got.Size)
	require.EqualValues(t, 8, got.Blocks)
}
