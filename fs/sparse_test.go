package fs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/transaction"
)

// zeroHoles is an image file whose all-zero data writes punch a hole
// instead (fallocate PUNCH_HOLE): the image reads exactly the same (a
// hole reads as zeros) but stays sparse and costs no I/O, so tests can
// write GiBs of zeros. Everything else goes to the file as written.
type zeroHoles struct {
	*disk.FileDevice
	f    *os.File // a second, buffered descriptor for the punches
	zero []byte
}

// falloc modes of fallocate(2).
const fallocPunchKeep = 0x02 | 0x01 // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE

func (d *zeroHoles) WriteAt(p []byte, off int64, k disk.Kind) error {
	if k != disk.KindData || !d.allZero(p) {
		return d.FileDevice.WriteAt(p, off, k)
	}
	return syscall.Fallocate(int(d.f.Fd()), fallocPunchKeep, off, int64(len(p)))
}

func (d *zeroHoles) allZero(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(d.zero))
		if !bytes.Equal(p[:n], d.zero[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

func (d *zeroHoles) Close() error {
	d.f.Close()
	return d.FileDevice.Close()
}

// sparseFS is an FS over a zeroHoles image of size bytes made with node
// size nodesize; at cleanup it is closed and the image checked (our fsck,
// btrfs check).
type sparseFS struct {
	*FS
	t    *testing.T
	path string
	opts Options
	dev  *zeroHoles
}

func newSparseFS(t *testing.T, size int64, nodesize uint32, opts Options) *sparseFS {
	t.Helper()
	return openSparseFS(t, newImageNodes(t, size, nodesize), opts)
}

// openSparseFS opens the image at path, which is checked at cleanup.
func openSparseFS(t *testing.T, path string, opts Options) *sparseFS {
	t.Helper()
	s := &sparseFS{t: t, path: path, opts: opts}
	s.open()
	t.Cleanup(func() {
		if s.FS != nil {
			require.NoError(t, s.close())
		}
	})
	return s
}

func (s *sparseFS) open() {
	s.t.Helper()
	fd, err := disk.OpenFile(s.path, disk.FileOptions{})
	require.NoError(s.t, err)
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	require.NoError(s.t, err)
	s.dev = &zeroHoles{FileDevice: fd, f: f, zero: make([]byte, 1<<20)}
	t, err := transaction.Open(s.dev, s.opts.Transaction)
	require.NoError(s.t, err)
	fs, err := newFS(t, s.opts, os.Stderr)
	require.NoError(s.t, err)
	s.FS = fs
}

// close closes the FS and the image.
func (s *sparseFS) close() error {
	err := s.FS.Close()
	s.FS = nil
	if cerr := s.dev.Close(); err == nil {
		err = cerr
	}
	return err
}

// sparseCopy copies the image at path into a new file of the test's, holes
// kept; the copy is checked at cleanup.
func sparseCopy(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy.img")
	out, err := exec.Command("cp", "--sparse=always", path, dst).CombinedOutput()
	require.NoError(t, err, "cp: %s", out)
	t.Cleanup(func() { requireClean(t, dst) })
	return dst
}

// reopen closes the FS and opens the image again (orphan cleanup runs).
func (s *sparseFS) reopen() {
	s.t.Helper()
	require.NoError(s.t, s.close())
	s.open()
}
