package tests

// TestMountWritebackCache: a mount with --writeback-cache (the kernel keeps
// written pages, size and mtime, and sends the pages later) keeps the
// semantics a btrfs owes its users — size and mtime after writes, O_APPEND
// from two descriptors, shared mmap, and durability ordering: what fsync
// or `cowfs sync` returned for survives kill -9 of the daemon. The oracle
// is the kernel's btrfs reading the image afterwards.

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// writebackMount is a fresh image mounted with --writeback-cache.
func writebackMount(t *testing.T) (bin, img string, d *mountDaemon) {
	t.Helper()
	needFuse(t)
	needBtrfsProgs(t)
	needKernelMount(t)
	bin = buildCowfs(t)
	img = filepath.Join(t.TempDir(), "fs.img")
	mkfsImage(t, bin, img, "1G")
	return bin, img, startDaemon(t, bin, img, newMountpoint(t), "--writeback-cache", "--commit-interval", "0")
}

// kernelReads unmounts cowfs cleanly or not (the daemon is already dead),
// checks the image and returns what the kernel's btrfs reads at rel.
func kernelFile(t *testing.T, img, rel string) ([]byte, os.FileInfo) {
	t.Helper()
	btrfsCheck(t, img, "--check-data-csum")
	mnt, umount := mountImage(t, img, true)
	defer umount()
	data, err := os.ReadFile(filepath.Join(mnt, rel))
	require.NoError(t, err, "the kernel reads %s", rel)
	st, err := os.Stat(filepath.Join(mnt, rel))
	require.NoError(t, err)
	return data, st
}

func TestMountWritebackCache(t *testing.T) {
	t.Run("SizeMtime", testWritebackSizeMtime)
	t.Run("Append", testWritebackAppend)
	t.Run("Mmap", testWritebackMmap)
	t.Run("FsyncSurvivesKill", testWritebackFsyncKill)
}

// Writes past EOF grow the size at once; mtime moves on every write;
// both reach the image at unmount as the kernel reported them.
func testWritebackSizeMtime(t *testing.T) {
	_, img, d := writebackMount(t)
	p := filepath.Join(d.mnt, "f")
	f, err := os.Create(p)
	require.NoError(t, err)
	past := time.Unix(1_000_000_000, 0)
	require.NoError(t, os.Chtimes(p, past, past))
	_, err = f.WriteAt(bytes.Repeat([]byte{7}, 4096), 1<<20)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, int64(1<<20+4096), st.Size(), "size right after a write past EOF")
	require.True(t, st.ModTime().After(past), "mtime %v after a write, was %v", st.ModTime(), past)
	require.NoError(t, f.Close())
	want, err := os.Stat(p)
	require.NoError(t, err)
	d.umount()
	data, kst := kernelFile(t, img, "f")
	require.Equal(t, want.Size(), int64(len(data)))
	require.Equal(t, want.ModTime(), kst.ModTime(), "mtime on the image")
	require.Equal(t, bytes.Repeat([]byte{7}, 4096), data[1<<20:])
	require.Equal(t, make([]byte, 1<<20), data[:1<<20])
}

// Two O_APPEND descriptors interleave whole records at the end.
func testWritebackAppend(t *testing.T) {
	_, img, d := writebackMount(t)
	p := filepath.Join(d.mnt, "log")
	var fds [2]*os.File
	for i := range fds {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		require.NoError(t, err)
		fds[i] = f
	}
	var want []byte
	for i := range 200 {
		rec := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i)
		_, err := fds[i%2].Write(rec)
		require.NoError(t, err)
		want = append(want, rec...)
	}
	for _, f := range fds {
		require.NoError(t, f.Close())
	}
	requireBoth(t, d, img, p, want)
}

// A shared writable mapping's stores reach read(2) and the image.
func testWritebackMmap(t *testing.T) {
	_, img, d := writebackMount(t)
	p := filepath.Join(d.mnt, "m")
	f, err := os.Create(p)
	require.NoError(t, err)
	const size = 64 << 10
	require.NoError(t, f.Truncate(size))
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	copy(m, want)
	require.NoError(t, unix.Msync(m, unix.MS_SYNC))
	require.NoError(t, unix.Munmap(m))
	require.NoError(t, f.Close())
	requireBoth(t, d, img, p, want)
}

// What fsync (file a) and `cowfs sync` (file b, still open) returned for
// is on the image after kill -9. The kernel may write b's page back
// before the sync (a FUSE mount's dirty limit is small), so this checks
// the guarantee, not that `cowfs sync` is what wrote it (its syncfs).
func testWritebackFsyncKill(t *testing.T) {
	_, img, d := writebackMount(t)
	want := bytes.Repeat([]byte("fsync ordering "), 40_000)
	a, err := os.Create(filepath.Join(d.mnt, "a"))
	require.NoError(t, err)
	_, err = a.Write(want)
	require.NoError(t, err)
	require.NoError(t, a.Sync())
	b, err := os.Create(filepath.Join(d.mnt, "b"))
	require.NoError(t, err)
	_, err = b.Write(want[:3000])
	require.NoError(t, err)
	r := d.sync() // b stays open: no close writes its pages back
	require.Equal(t, 0, r.Code, "cowfs sync: %s", r.Stderr)
	d.kill9()
	a.Close()
	b.Close()
	got, _ := kernelFile(t, img, "a")
	require.Equal(t, want, got, "fsynced file after kill -9")
	got, _ = kernelFile(t, img, "b")
	require.Equal(t, want[:3000], got, "synced file after kill -9")
}

// requireBoth checks that file p holds want through the mount, then
// unmounts d and checks that the kernel reads the same from the image.
func requireBoth(t *testing.T, d *mountDaemon, img, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, want, got, "through the mount")
	d.umount()
	got, _ = kernelFile(t, img, filepath.Base(p))
	require.Equal(t, want, got, "on the image")
}
