package fs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
	"cowfs/fsck/fscktest"
	"cowfs/transaction"
)

func TestOptions(t *testing.T) {
	o := DefaultOptions()
	require.NoError(t, o.Validate())
	require.Contains(t, o.String(), "data-buffer=33554432")
	require.Contains(t, o.String(), "commit-interval=30s")
	o.DirtyThreshold = -1
	require.ErrorIs(t, o.Validate(), ErrInvalidOptions)
	_, err := Open(filepath.Join(t.TempDir(), "none"), o)
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = Open(filepath.Join(t.TempDir(), "none"), DefaultOptions())
	require.Error(t, err)
	o = testOptions()
	o.Transaction.CommitInterval = 0
	_, err = Open(newImage(t, 256<<20), o)
	require.ErrorIs(t, err, transaction.ErrInvalidOptions)
}

func TestReadOnly(t *testing.T) {
	tf := newTestFS(t)
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	tf.write(f.Ino, []byte("data"), 0)
	require.NoError(t, tf.Close())
	o := tf.opts
	o.Transaction.ReadOnly = true
	fs, err := Open(tf.path, o)
	require.NoError(t, err)
	defer fs.Close()
	require.True(t, fs.ReadOnly())
	p := make([]byte, 10)
	n, err := fs.Read(f.Ino, p, 0)
	require.NoError(t, err)
	require.Equal(t, "data", string(p[:n]))
	for _, err := range []error{
		func() error { _, err := fs.Create(RootIno, "g", 0o644, Creator{}); return err }(),
		func() error { _, err := fs.Write(f.Ino, []byte("x"), 0); return err }(),
		fs.Unlink(RootIno, "f"),
		fs.Rename(RootIno, "f", RootIno, "g", 0),
		fs.SetXattr(f.Ino, "user.x", nil, 0),
		func() error { m := uint32(0); _, err := fs.SetAttr(f.Ino, SetAttrIn{Mode: &m}); return err }(),
	} {
		requireErrno(t, err, syscall.EROFS)
		require.ErrorIs(t, err, transaction.ErrReadOnly)
	}
	require.NoError(t, fs.Sync())
	require.NoError(t, fs.Fsync(f.Ino))
}

// TestAbortIsEROFS: after a transaction abort every change fails with
// EROFS and the image keeps its last commit.
func TestAbortIsEROFS(t *testing.T) {
	tf := newTestFS(t)
	_, err := tf.Create(tf.Root(), "kept", 0o644, Creator{})
	require.NoError(t, err)
	require.NoError(t, tf.Sync())
	_, err = tf.Create(tf.Root(), "lost", 0o644, Creator{})
	require.NoError(t, err)
	tf.FS.t.Abort(errors.New("test abort"))
	_, err = tf.Create(tf.Root(), "x", 0o644, Creator{})
	requireErrno(t, err, syscall.EROFS)
	requireErrno(t, tf.Sync(), syscall.EROFS)
	require.Error(t, tf.Close())
	requireClean(t, tf.path)
	tf.open()
	names := tf.names(tf.Root())
	require.Contains(t, names, "kept")
	require.NotContains(t, names, "lost")
}

// mkfsBtrfs makes an image with mkfs.btrfs and extra arguments.
func mkfsBtrfs(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		oracleMissing(t, "mkfs.btrfs not installed")
	}
	path := filepath.Join(t.TempDir(), "btrfs.img")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	require.NoError(t, os.Truncate(path, 256<<20))
	out, err := exec.Command("mkfs.btrfs", append(append([]string{"-f", "-q"}, args...), path)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return path
}

// TestOpenMkfsImages: images from mkfs.btrfs -R ^free-space-tree and with
// its defaults (a free-space tree) open read-write and stay clean; one
// whose free-space tree is not marked valid opens read-only with a
// warning.
func TestOpenMkfsImages(t *testing.T) {
	for _, args := range [][]string{{"-m", "single", "-d", "single", "-R", "^free-space-tree"}, nil} {
		path := mkfsBtrfs(t, args...)
		fs, err := Open(path, testOptions())
		require.NoError(t, err)
		require.False(t, fs.ReadOnly())
		d, err := fs.Mkdir(RootIno, "dir", 0o755, Creator{})
		require.NoError(t, err)
		f, err := fs.Create(d.Ino, "f", 0o644, Creator{})
		require.NoError(t, err)
		_, err = fs.Write(f.Ino, bytes.Repeat([]byte("x"), 10000), 0)
		require.NoError(t, err)
		require.NoError(t, fs.Close())
		requireClean(t, path)
	}

	path := mkfsBtrfs(t)
	fscktest.PatchSuper(t, path, func(s *format.Super) { s.CompatRoFlags &^= format.CompatRoFreeSpaceTreeValid })
	var log bytes.Buffer
	o := testOptions()
	o.Log = &log
	fs, err := Open(path, o)
	require.NoError(t, err)
	require.True(t, fs.ReadOnly())
	require.Equal(t, 1, strings.Count(log.String(), "\n"), "one line: %q", log.String())
	require.Contains(t, log.String(), "free-space tree")
	require.Contains(t, log.String(), "read-only")
	_, err = fs.Mkdir(RootIno, "dir", 0o755, Creator{})
	requireErrno(t, err, syscall.EROFS)
	require.Empty(t, names(t, fs, RootIno))
	require.NoError(t, fs.Close())
	// Asking for read-only prints nothing.
	log.Reset()
	o.Transaction.ReadOnly = true
	fs, err = Open(path, o)
	require.NoError(t, err)
	require.Empty(t, log.String())
	require.NoError(t, fs.Close())
}

func names(t *testing.T, fs *FS, dir uint64) []string {
	var out []string
	require.NoError(t, fs.ReadDir(dir, 0, func(e DirEntry) bool { out = append(out, e.Name); return true }))
	return out
}

func TestStatFs(t *testing.T) {
	tf := newTestFS(t)
	st, err := tf.StatFs()
	require.NoError(t, err)
	require.EqualValues(t, 4096, st.Bsize)
	require.EqualValues(t, 255, st.NameLen)
	require.EqualValues(t, 1, st.Files-st.Ffree)
	require.Greater(t, st.Blocks, uint64(200<<20/4096))
	require.Less(t, st.Blocks, uint64(256<<20/4096))
	free := st.Bfree
	f, err := tf.Create(tf.Root(), "f", 0o644, Creator{})
	require.NoError(t, err)
	_, err = tf.Mkdir(tf.Root(), "d", 0o755, Creator{})
	require.NoError(t, err)
	tf.write(f.Ino, make([]byte, 10<<20), 0)
	require.NoError(t, tf.Sync())
	st, err = tf.StatFs()
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Files-st.Ffree)
	require.Less(t, st.Bfree, free-(10<<20)/4096+1)
	require.Equal(t, st.Bfree, st.Bavail)
	require.NoError(t, tf.Unlink(tf.Root(), "f"))
	st, err = tf.StatFs()
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Files-st.Ffree)
}
