package fs

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

// requireRsvExact checks the delalloc accounting: every inode holds what
// its buffer needs, the two reserves hold the sum, and nothing else holds
// DATA space.
func (tf *testFS) requireRsvExact() {
	tf.t.Helper()
	var sum need
	tf.imu.Lock()
	for _, in := range tf.inodes {
		in.mu.Lock()
		require.Equal(tf.t, tf.rangesNeed(in.buf), in.rsv, "inode %d", in.ino)
		sum = sum.plus(in.rsv)
		in.mu.Unlock()
	}
	tf.imu.Unlock()
	_, data := tf.dataRsv.Info()
	_, meta := tf.metaRsv.Info()
	require.Equal(tf.t, sum, need{data: data, meta: meta})
	require.Equal(tf.t, data, tf.FS.t.Alloc().Space(format.BlockGroupData).MayUse)
}

// TestDelallocAccounting: buffered writes at random offsets and lengths
// (overlapping, touching, unaligned, past maxFlushRun) keep each inode's
// share equal to what its buffer needs; flushes give it all back.
func TestDelallocAccounting(t *testing.T) {
	tf := newTestFS(t)
	rng := testRand(t)
	var inos []uint64
	for i := range 4 {
		f, err := tf.Create(tf.Root(), fmt.Sprintf("f%d", i), 0o644, Creator{})
		require.NoError(t, err)
		inos = append(inos, f.Ino)
	}
	for i := range 400 {
		ino := inos[rng.IntN(len(inos))]
		off := rng.Uint64N(8 << 20)
		n := 1 + rng.IntN(64<<10)
		if i%50 == 0 {
			off += maxFlushRun - 4096 // a range across a run boundary
		}
		tf.write(ino, randBytes(rng, n), off)
		tf.requireRsvExact()
		if i%97 == 0 {
			require.NoError(t, tf.Fsync(ino))
			tf.requireRsvExact()
		}
	}
	require.NoError(t, tf.Sync())
	tf.requireRsvExact()
	_, data := tf.dataRsv.Info()
	_, meta := tf.metaRsv.Info()
	require.Zero(t, data+meta, "flushed buffers hold nothing")
	// A removed inode's buffer gives its share back.
	tf.write(inos[0], randBytes(rng, 1<<20), 0)
	require.NoError(t, tf.Unlink(tf.Root(), "f0"))
	tf.requireRsvExact()
}

// TestDelallocENOSPC: with buffering on, a filling filesystem fails the
// write(2) with ENOSPC, never a flush: no abort, every accepted write is
// there after Sync and a reopen, and space freed lets writes go on.
func TestDelallocENOSPC(t *testing.T) {
	opts := testOptions()
	opts.DirtyThreshold = 8 << 20
	tf := newTestFSOpts(t, 96<<20, opts)
	rng := testRand(t)
	model := map[string][]byte{}
	var full bool
	for i := 0; !full; i++ {
		name := fmt.Sprintf("f%04d", i)
		f, err := tf.Create(tf.Root(), name, 0o644, Creator{})
		if err != nil {
			requireErrno(t, err, syscall.ENOSPC)
			t.Logf("create ENOSPC after %d files", i)
			break
		}
		var content []byte
		for range 1 + rng.IntN(8) {
			off := uint64(len(content)) + uint64(rng.IntN(3000)) // unaligned, with holes
			p := randBytes(rng, 1+rng.IntN(300<<10))
			if _, err := tf.Write(f.Ino, p, off); err != nil {
				requireErrno(t, err, syscall.ENOSPC)
				t.Logf("write ENOSPC in file %d", i)
				full = true
				break
			}
			content = append(content, make([]byte, off-uint64(len(content)))...)
			content = append(content, p...)
		}
		model[name] = content
		require.False(t, tf.ReadOnly(), "aborted: %v", tf.FS.t.Aborted())
	}
	require.NotEmpty(t, model)
	require.NoError(t, tf.Sync(), "every accepted write flushes")
	tf.requireRsvExact()
	tf.reopen()
	for name, content := range model {
		ino, err := tf.Lookup(tf.Root(), name)
		require.NoError(t, err)
		require.Equal(t, string(content), string(tf.readAll(ino.Ino)), name)
	}
	for name := range model {
		require.NoError(t, tf.Unlink(tf.Root(), name))
	}
	require.NoError(t, tf.Sync())
	g, err := tf.Create(tf.Root(), "after", 0o644, Creator{})
	require.NoError(t, err)
	p := randBytes(rng, 4<<20)
	tf.write(g.Ino, p, 0)
	require.NoError(t, tf.Sync())
	require.Equal(t, p, tf.readAll(g.Ino))
}
