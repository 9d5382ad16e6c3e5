package fs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// extentItems returns the EXTENT_DATA items of ino.
func (tf *testFS) extentItems(ino uint64) []*format.FileExtent {
	tf.t.Helper()
	items, err := tf.scan(keyOf(ino, format.ExtentDataKey, 0), keyOf(ino, format.ExtentDataKey+1, 0))
	require.NoError(tf.t, err)
	var out []*format.FileExtent
	for _, it := range items {
		fe, err := format.DecodeFileExtent(it.Data)
		require.NoError(tf.t, err)
		out = append(out, fe)
	}
	return out
}

func (tf *testFS) write(ino uint64, p []byte, off uint64) {
	tf.t.Helper()
	n, err := tf.Write(ino, p, off)
	require.NoError(tf.t, err)
	require.Equal(tf.t, len(p), n)
}

func TestWriteRead(t *testing.T) {
	t.Parallel()
	tf := newTestFS(t)
	rng := testRand(t)
	type file struct {
		ino  uint64
		data []byte
	}
	files := map[string]*file{}
	mk := func(name string) *file {
		a, err := tf.Create(tf.Root(), name, 0o644, Creator{})
		require.NoError(t, err)
		f := &file{ino: a.Ino}
		files[name] = f
		return f
	}
	put := func(f *file, off int, p []byte) {
		tf.write(f.ino, p, uint64(off))
		if end := off + len(p); end > len(f.data) {
			f.data = append(f.data, make([]byte, end-len(f.data))...)
		}
		copy(f.data[off:], p)
	}
	check := func() {
		for name, f := range files {
			got := tf.readAll(f.ino)
			require.True(t, bytes.Equal(f.data, got), "%s: %d bytes, want %d", name, len(got), len(f.data))
			a, err := tf.GetAttr(f.ino)
			require.NoError(t, err)
			require.EqualValues(t, len(f.data), a.Size, name)
		}
	}
	mk("empty")
	put(mk("inline"), 0, []byte("hello, world\n"))
	multi := mk("multi")
	for i := 0; i < 20; i++ {
		put(multi, rng.IntN(3<<20), randBytes(rng, 1+rng.IntN(200<<10)))
	}
	sparse := mk("sparse")
	put(sparse, 5<<20, randBytes(rng, 5000))
	put(sparse, 100, []byte("head"))
	large := mk("large")
	for off := 0; off < 40<<20; off += 1 << 20 { // passes the 32 MiB threshold
		put(large, off, randBytes(rng, 1<<20))
	}
	check()
	// Reads at and past the end, and of a hole.
	p := make([]byte, 10)
	n, err := tf.Read(sparse.ino, p, 5<<20+5000)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = tf.Read(sparse.ino, p, 1<<20)
	require.NoError(t, err)
	require.Equal(t, 10, n)
	require.Equal(t, make([]byte, 10), p)
	tf.reopen()
	check()
	// Large sequential writes became large extents (an extent ends at a
	// flush, and at the end of a data block group).
	require.LessOrEqual(t, len(tf.extentItems(large.ino)), 8)
	a, err := tf.GetAttr(large.ino)
	require.NoError(t, err)
	require.EqualValues(t, 40<<20/512, a.Blocks)
	a, err = tf.GetAttr(files["inline"].ino)
	require.NoError(t, err)
	require.EqualValues(t, 8, a.Blocks) // nbytes 13, rounded to a sector
	ext := tf.extentItems(files["inline"].ino)
	require.Len(t, ext, 1)
	require.Equal(t, format.FileExtentInline, ext[0].Type)
	// Overwrites after reopen.
	put(multi, 12345, randBytes(rng, 70000))
	put(files["inline"], 5, []byte("XX"))
	check()
	tf.reopen()
	check()
}

func TestWriteErrors(t *testing.T) {
	tf := newTestFS(t)
	d, err := tf.Mkdir(tf.Root(), "d", 0o755, Creator{})
	require.NoError(t, err)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	fifo, err := tf.Mknod(tf.Root(), "p", syscall.S_IFIFO|0o644, 0, Creator{})
	require.NoError(t, err)
	_, err = tf.Write(d.Ino, []byte("x"), 0)
	requireErrno(t, err, syscall.EISDIR)
	_, err = tf.Read(d.Ino, make([]byte, 1), 0)
	requireErrno(t, err, syscall.EISDIR)
	_, err = tf.Write(fifo.Ino, []byte("x"), 0)
	requireErrno(t, err, syscall.EINVAL)
	_, err = tf.Write(f.Ino, []byte("x"), MaxFileSize)
	requireErrno(t, err, syscall.EFBIG)
	_, err = tf.Write(12345, []byte("x"), 0)
	requireErrno(t, err, syscall.ENOENT)
	big := uint64(MaxFileSize)
	_, err = tf.SetAttr(f.Ino, SetAttrIn{Size: &big})
	require.NoError(t, err)
	big++
	_, err = tf.SetAttr(f.Ino, SetAttrIn{Size: &big})
	requireErrno(t, err, syscall.EFBIG)
	zero := uint64(0)
	_, err = tf.SetAttr(d.Ino, SetAttrIn{Size: &zero})
	requireErrno(t, err, syscall.EISDIR)
	_, err = tf.SetAttr(fifo.Ino, SetAttrIn{Size: &zero})
	requireErrno(t, err, syscall.EINVAL)
	// A write just below the limit is cut at it.
	n, err := tf.Write(f.Ino, []byte("abc"), MaxFileSize-1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = tf.SetAttr(f.Ino, SetAttrIn{Size: &zero})
	require.NoError(t, err)
}

func TestTruncateFallocate(t *testing.T) {
	tf := newTestFS(t)
	rng := testRand(t)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	data := randBytes(rng, 300000)
	tf.write(f.Ino, data, 0)
	size := func(n uint64) {
		_, err := tf.SetAttr(f.Ino, SetAttrIn{Size: &n})
		require.NoError(t, err)
	}
	size(100000)
	data = data[:100000]
	require.Equal(t, data, tf.readAll(f.Ino))
	size(200000)
	data = append(data, make([]byte, 100000)...)
	require.Equal(t, data, tf.readAll(f.Ino))

	// Punch a hole (KEEP_SIZE required).
	require.NoError(t, tf.Fallocate(f.Ino, FallocPunchHole|FallocKeepSize, 5000, 70000))
	clear(data[5000:75000])
	require.Equal(t, data, tf.readAll(f.Ino))
	requireErrno(t, tf.Fallocate(f.Ino, FallocPunchHole, 0, 10), syscall.EOPNOTSUPP)
	requireErrno(t, tf.Fallocate(f.Ino, 0x10, 0, 10), syscall.EOPNOTSUPP)
	requireErrno(t, tf.Fallocate(f.Ino, 0, 0, 0), syscall.EINVAL)
	requireErrno(t, tf.Fallocate(f.Ino, 0, MaxFileSize-5, 10), syscall.EFBIG)
	requireErrno(t, tf.Fallocate(tf.Root(), 0, 0, 10), syscall.EISDIR)
	// KEEP_SIZE past the end, then mode 0.
	require.NoError(t, tf.Fallocate(f.Ino, FallocKeepSize, 190000, 50000))
	a, err := tf.GetAttr(f.Ino)
	require.NoError(t, err)
	require.EqualValues(t, 200000, a.Size)
	require.NoError(t, tf.Fallocate(f.Ino, 0, 250000, 10000))
	a, err = tf.GetAttr(f.Ino)
	require.NoError(t, err)
	require.EqualValues(t, 260000, a.Size)
	data = append(data, make([]byte, 60000)...)
	require.Equal(t, data, tf.readAll(f.Ino))
	// Buffered data is flushed before the range changes.
	tf.write(f.Ino, []byte("buffered"), 10)
	copy(data[10:], "buffered")
	require.NoError(t, tf.Fallocate(f.Ino, FallocPunchHole|FallocKeepSize, 12, 2))
	clear(data[12:14])
	require.Equal(t, data, tf.readAll(f.Ino))
	tf.reopen()
	require.Equal(t, data, tf.readAll(f.Ino))
	size(0)
	require.Empty(t, tf.readAll(f.Ino))
	require.Empty(t, tf.extentItems(f.Ino))
}

func TestSetAttr(t *testing.T) {
	tf := newTestFS(t)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{UID: 1, GID: 2})
	require.NoError(t, err)
	mode, uid, gid := uint32(0o4751|syscall.S_IFDIR), uint32(7), uint32(8)
	at, mt := f.Atime.Add(-1e9*3600), f.Mtime.Add(-1e9*7200)
	a, err := tf.SetAttr(f.Ino, SetAttrIn{Mode: &mode, UID: &uid, GID: &gid, Atime: &at, Mtime: &mt})
	require.NoError(t, err)
	require.EqualValues(t, syscall.S_IFREG|0o4751, a.Mode, "the type is kept")
	require.EqualValues(t, 7, a.UID)
	require.EqualValues(t, 8, a.GID)
	require.True(t, a.Atime.Equal(at))
	require.True(t, a.Mtime.Equal(mt))
	require.False(t, a.Ctime.Before(f.Ctime))
	zero := uint32(0)
	a, err = tf.SetAttr(f.Ino, SetAttrIn{Mode: &zero})
	require.NoError(t, err)
	require.EqualValues(t, syscall.S_IFREG, a.Mode, "mode 0000 stays 0000")
	_, err = tf.SetAttr(999999, SetAttrIn{Mode: &zero})
	requireErrno(t, err, syscall.ENOENT)
	tf.reopen()
	got, err := tf.GetAttr(f.Ino)
	require.NoError(t, err)
	require.Equal(t, a, got)
}

// TestDelalloc: writes stay in memory (size and mtime visible at once)
// until a flush; then one extent per contiguous run.
func TestDelalloc(t *testing.T) {
	tf := newTestFS(t)
	rng := testRand(t)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	var want []byte
	for i := 0; i < 64; i++ {
		p := randBytes(rng, 64<<10)
		tf.write(f.Ino, p, uint64(i)<<16)
		want = append(want, p...)
	}
	a, err := tf.GetAttr(f.Ino)
	require.NoError(t, err)
	require.EqualValues(t, 4<<20, a.Size)
	require.Empty(t, tf.extentItems(f.Ino), "nothing written before a flush")
	ii, err := tf.readInode(f.Ino)
	require.NoError(t, err)
	require.Zero(t, ii.Size)
	require.Equal(t, want, tf.readAll(f.Ino))
	require.NoError(t, tf.Fsync(f.Ino))
	ext := tf.extentItems(f.Ino)
	require.Len(t, ext, 1)
	require.EqualValues(t, 4<<20, ext[0].NumBytes)
	ii, err = tf.readInode(f.Ino)
	require.NoError(t, err)
	require.EqualValues(t, 4<<20, ii.Size)
	require.EqualValues(t, 4<<20, ii.Nbytes)
	// A commit (the BeforeCommit hook) flushes too.
	tf.write(f.Ino, []byte("tail"), 4<<20)
	require.NoError(t, tf.FS.t.Commit())
	require.Len(t, tf.extentItems(f.Ino), 2)
	require.Zero(t, tf.dirty.Load())
}

func TestDirtyThreshold(t *testing.T) {
	for _, threshold := range []int64{0, 1 << 20} {
		o := testOptions()
		o.DirtyThreshold = threshold
		tf := newTestFSOpts(t, 256<<20, o)
		rng := testRand(t)
		f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
		require.NoError(t, err)
		var want []byte
		for i := 0; i < 40; i++ {
			p := randBytes(rng, 100<<10)
			tf.write(f.Ino, p, uint64(len(want)))
			want = append(want, p...)
			require.LessOrEqual(t, tf.dirty.Load(), threshold)
		}
		require.Equal(t, want, tf.readAll(f.Ino))
		if threshold == 0 {
			require.Len(t, tf.extentItems(f.Ino), 40)
		}
		tf.reopen()
		require.Equal(t, want, tf.readAll(f.Ino))
	}
}

func TestDirtyRanges(t *testing.T) {
	rng := testRand(t)
	var rs dirtyRanges
	var model []byte
	written := map[int]bool{}
	for i := 0; i < 2000; i++ {
		off := rng.IntN(1 << 16)
		n := 1 + rng.IntN(4096)
		if rng.IntN(4) == 0 && len(model) > 0 {
			off = len(model) // appends
		}
		p := randBytes(rng, n)
		rs.insert(uint64(off), p, 1<<14, nil)
		if off+n > len(model) {
			model = append(model, make([]byte, off+n-len(model))...)
		}
		copy(model[off:], p)
		for j := off; j < off+n; j++ {
			written[j] = true
		}
		for k := 1; k < len(rs); k++ {
			require.Greater(t, rs[k].off, rs[k-1].end(), "ranges overlap or touch")
		}
	}
	require.EqualValues(t, len(written), rs.bytes())
	got := make([]byte, len(model))
	rs.overlay(got, 0)
	require.Equal(t, model, got)
}

// TestENOSPC: a full filesystem fails writes with ENOSPC and stays
// usable: freeing space lets writes succeed again.
func TestENOSPC(t *testing.T) {
	tf := newTestFSOpts(t, 128<<20, testOptions())
	rng := testRand(t)
	f, err := tf.Create(tf.Root(), "fill", 0o644, Creator{})
	require.NoError(t, err)
	chunk := randBytes(rng, 1<<20)
	var written uint64
	for {
		n, err := tf.Write(f.Ino, chunk, written)
		if err != nil {
			requireErrno(t, err, syscall.ENOSPC)
			break
		}
		written += uint64(n)
		require.Less(t, written, uint64(128<<20), "never ENOSPC")
	}
	require.Greater(t, written, uint64(60<<20))
	require.False(t, tf.ReadOnly())
	require.NoError(t, tf.Sync())
	requireErrno(t, tf.Fallocate(f.Ino, 0, written, 64<<20), syscall.ENOSPC)
	// Creating names still works; the data comes back after a delete.
	g, err := tf.Create(tf.Root(), "g", 0o644, Creator{})
	require.NoError(t, err)
	require.NoError(t, tf.Unlink(tf.Root(), "fill"))
	require.NoError(t, tf.Sync())
	tf.write(g.Ino, chunk, 0)
	require.NoError(t, tf.Sync())
	require.Equal(t, chunk, tf.readAll(g.Ino))
}

// TestMetadataENOSPC: when metadata space runs out, Start fails with
// ENOSPC before anything changes.
func TestMetadataENOSPC(t *testing.T) {
	tf := newTestFSOpts(t, 128<<20, testOptions())
	rng := testRand(t)
	f, err := tf.Create(tf.Root(), "fill", 0o644, Creator{})
	require.NoError(t, err)
	chunk := randBytes(rng, 1<<20)
	for off := uint64(0); ; off += 1 << 20 {
		if _, err := tf.Write(f.Ino, chunk, off); err != nil {
			requireErrno(t, err, syscall.ENOSPC)
			break
		}
	}
	require.NoError(t, tf.Sync())
	value := randBytes(rng, 16000)
	var i int
	for i = 0; i < 100000; i++ {
		a, err := tf.Create(tf.Root(), fmt.Sprintf("f%06d", i), 0o644, Creator{})
		if err == nil {
			err = tf.SetXattr(a.Ino, "user.big", value, 0)
		}
		if err != nil {
			requireErrno(t, err, syscall.ENOSPC)
			break
		}
	}
	t.Logf("ENOSPC after %d files", i)
	require.False(t, tf.ReadOnly(), "aborted: %v", tf.FS.t.Aborted())
}
