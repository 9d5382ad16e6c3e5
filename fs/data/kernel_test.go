package data

// Files the kernel wrote: cowfs reads them (inline, regular extents whose
// checksums share items, zlib-compressed extents refused), changes them,
// and the oracles check the result.

import (
	"bytes"
	"cowfs/testmount"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// kernelWrite mounts the closed image read-write with opts and runs fn on
// the mount point; false when the kernel is not available (skipped).
func (h *harness) kernelWrite(opts string, fn func(mnt string)) bool {
	t := h.t
	mountProbe.Do(func() { mountUnavailable = probeMount() })
	if mountUnavailable != "" {
		oracleUnavailable(t, mountUnavailable)
		return false
	}
	mnt := filepath.Join(t.TempDir(), "kmnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	out, err := exec.Command("mount", "-o", "loop,noatime,"+opts, h.path, mnt).CombinedOutput()
	require.NoError(t, err, "mount: %s\n%s", out, dmesgTail())
	fn(mnt)
	require.NoError(t, testmount.Sync(mnt))
	unmount(t, mnt)
	return true
}

// adopt adds the kernel's file name, holding content, to the model.
func (h *harness) adopt(name string, content []byte) *mfile {
	t := h.t
	root := h.files.Root()
	b, err := ctree.Lookup(root, format.Key{ObjectID: format.FirstFreeObjectID, Type: format.DirItemKey,
		Offset: format.NameHash([]byte(name))})
	require.NoError(t, err, "dir item of %s", name)
	d, err := format.DecodeDirItem(b)
	require.NoError(t, err)
	ino := d[0].Location.ObjectID
	b, err = ctree.Lookup(root, format.Key{ObjectID: ino, Type: format.InodeItemKey})
	require.NoError(t, err)
	in, err := format.DecodeInodeItem(b)
	require.NoError(t, err)
	require.Equal(t, uint64(len(content)), in.Size, "size of %s", name)
	f := &mfile{ino: ino, name: name, content: content, nbytes: in.Nbytes, nodatasum: in.Flags&format.InodeNoDataSum != 0}
	h.model[ino] = f
	h.nextIno = max(h.nextIno, ino+1)
	return f
}

// adoptDir reloads the root directory's size and next index.
func (h *harness) adoptDir() {
	root := h.files.Root()
	b, err := ctree.Lookup(root, format.Key{ObjectID: format.FirstFreeObjectID, Type: format.InodeItemKey})
	require.NoError(h.t, err)
	in, err := format.DecodeInodeItem(b)
	require.NoError(h.t, err)
	h.dirSize = in.Size
	it := root.Scan(format.Key{ObjectID: format.FirstFreeObjectID, Type: format.DirIndexKey},
		format.Key{ObjectID: format.FirstFreeObjectID, Type: format.DirIndexKey + 1})
	for it.Next() {
		h.nextIndex = max(h.nextIndex, it.Item().Key.Offset+1)
	}
	require.NoError(h.t, it.Err())
}

func TestKernelWrittenFiles(t *testing.T) {
	h := newHarness(t, 512<<20, 16384)
	rng := rand.New(rand.NewPCG(21, 22))
	h.close()
	small, multi := randBytes(rng, 500), randBytes(rng, 3<<20)
	zdata := bytes.Repeat([]byte("compressible "), 10000)
	ok := h.kernelWrite("", func(mnt string) {
		require.NoError(t, os.WriteFile(filepath.Join(mnt, "k-inline"), small, 0o644))
		fd, err := os.Create(filepath.Join(mnt, "k-multi"))
		require.NoError(t, err)
		for i := range 3 {
			_, err := fd.WriteAt(multi[i<<20:(i+1)<<20], int64(i)<<20)
			require.NoError(t, err)
			require.NoError(t, fd.Sync()) // one extent per MiB
		}
		require.NoError(t, fd.Close())
	})
	if !ok {
		t.Skip("kernel not available")
	}
	h.kernelWrite("compress-force=zlib", func(mnt string) {
		require.NoError(t, os.WriteFile(filepath.Join(mnt, "k-zlib"), zdata, 0o644))
	})
	h.open()
	h.adoptDir()
	fi, fm, fz := h.adopt("k-inline", small), h.adopt("k-multi", multi), h.adopt("k-zlib", zdata)
	h.requireLayout(fi, [3]uint64{0, inl, 500})
	require.GreaterOrEqual(t, len(h.extentsOf(fm.ino)), 3)
	h.verify(fi, rng)
	h.verify(fm, rng)
	_, err := h.files.ReadAt(fz.ino, make([]byte, 10), 0, fz.size(), fz.nodatasum)
	require.ErrorIs(t, err, syscall.EOPNOTSUPP)
	require.Contains(t, err.Error(), "zlib-compressed")

	// The kernel's checksum items span extents (the first and third MiB
	// are contiguous on disk here): rewriting the first MiB frees its
	// extent, and the commit cuts its sums out of the shared item.
	first := h.extentsOf(fm.ino)[0].fe
	h.write(fm, 0, randBytes(rng, 1<<20))
	h.commit()
	_, err = h.fs.LookupCsums(first.DiskBytenr, first.DiskNumBytes)
	require.ErrorIs(t, err, transaction.ErrNoCsum)
	h.verify(fm, rng)

	// Change them: an overwrite across the kernel's extent boundary, an
	// append, a truncate of the inline file, a punch, and the compressed
	// file's removal.
	h.write(fm, 1<<20-3000, randBytes(rng, 10000))
	h.write(fm, fm.size(), randBytes(rng, 7777))
	h.truncate(fi, 123)
	h.punch(fm, 2<<20+100, 1<<20)
	h.remove(fz)
	g := h.create("ours", false)
	h.write(g, 0, randBytes(rng, 50000))
	h.verifyAll(rng)
	h.reopen()
	h.verifyAll(rng)
}
