package tests

// Regression tests of two ENOSPC bugs TestMountENOSPC ran into with
// buffered writes (docs/fs.md, "Buffered writes"): both failed until the
// filesystem layer reserved, when it accepts a buffered write, what the
// flush of that write will need: whole sectors of data, and metadata
// (fs/reserve.go). They run with the default data buffer.

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMountENOSPCUnalignedWrites: buffered writes are admitted against
// the free data space by their byte count, but each small unaligned
// write needs a whole sector once flushed. With 64 KiB of data space
// free, 600 writes of 100 bytes 8 KiB apart (60,000 bytes admitted,
// 2.4 MiB needed) all succeed; the flush at `cowfs sync` fails to
// allocate inside its handle, which aborts the transaction, and the
// filesystem turns read-only (EROFS). Expected: ENOSPC from a write or
// from the sync, and a filesystem that goes on.
func TestMountENOSPCUnalignedWrites(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	img := filepath.Join(t.TempDir(), "small.img")
	mkfsImage(t, bin, img, "64M")
	mnt := newMountpoint(t)
	d := startDaemon(t, bin, img, mnt, "--commit-interval", "0")
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "spare"), make([]byte, 64<<10), 0o644))
	d.syncOK()
	fillUp(t, d, filepath.Join(mnt, "fill"))
	d.syncOK()
	require.NoError(t, os.Remove(filepath.Join(mnt, "spare")))
	d.syncOK()
	fd, err := os.OpenFile(filepath.Join(mnt, "small"), os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	for n := 0; n < 600 && err == nil; n++ {
		_, err = fd.WriteAt(bytes.Repeat([]byte{0xa5}, 100), int64(n)*8192+1000)
	}
	require.True(t, err == nil || errors.Is(err, syscall.ENOSPC), "write: %v", err)
	if r := d.sync(); r.Code != 0 { // a sync may fail with ENOSPC
		require.Contains(t, r.Stderr, "no space left", "cowfs sync: %s\ndaemon:\n%s", r.Stderr, d.stderr)
	}
	require.NoError(t, fd.Close())
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "after"), nil, 0o644),
		"the filesystem must not turn read-only; daemon:\n%s", d.stderr)
	d.umount()
}

// TestMountENOSPCFlush: 1 MiB writes to a 64 MiB image are accepted until
// ENOSPC (44 MiB), all of it buffered; the flush then needs a metadata
// reservation (a handle of 69 items: 18 MiB) that the full device cannot
// give, so `cowfs sync` fails with ENOSPC for ever, `cowfs umount` fails,
// and a plain unmount loses every byte write(2) accepted ("final commit:
// ... reserve 18087936 bytes of METADATA for delayed_refs_rsv: no space
// left"). Expected: what write accepted can be synced.
func TestMountENOSPCFlush(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	img := filepath.Join(t.TempDir(), "small.img")
	mkfsImage(t, bin, img, "64M")
	mnt := newMountpoint(t)
	d := startDaemon(t, bin, img, mnt, "--commit-interval", "0")
	fd, err := os.Create(filepath.Join(mnt, "fill"))
	require.NoError(t, err)
	var accepted int64
	for err == nil {
		var n int
		n, err = fd.Write(make([]byte, 1<<20))
		accepted += int64(n)
	}
	require.True(t, errors.Is(err, syscall.ENOSPC), "filling: %v", err)
	require.NoError(t, fd.Close())
	d.syncOK()
	d.umount()
	d = startDaemon(t, bin, img, mnt, "--read-only")
	st, err := os.Stat(filepath.Join(mnt, "fill"))
	require.NoError(t, err)
	require.Equal(t, accepted, st.Size(), "bytes write(2) accepted, after sync and remount")
	d.umount()
}

// fillUp writes zeros to a new file at p, 1 MiB then 4 KiB at a time,
// until ENOSPC, with a sync after every 2 MiB so that the buffered data
// stays small (see TestMountENOSPCFlush).
func fillUp(t *testing.T, d *mountDaemon, p string) {
	t.Helper()
	fd, err := os.Create(p)
	require.NoError(t, err)
	defer fd.Close()
	for _, n := range []int{1 << 20, 4 << 10} {
		for i := 1; err == nil; i++ {
			if _, err = fd.Write(make([]byte, n)); i%(2<<20/n) == 0 {
				d.syncOK()
			}
		}
		require.True(t, errors.Is(err, syscall.ENOSPC), "filling %s: %v", p, err)
		err = nil
	}
}

// syncOK runs `cowfs sync` and requires it to succeed.
func (d *mountDaemon) syncOK() {
	d.t.Helper()
	r := d.sync()
	require.Equal(d.t, 0, r.Code, "cowfs sync: %s\ndaemon:\n%s", r.Stderr, d.stderr)
}
