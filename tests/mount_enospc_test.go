package tests

// TestMountENOSPC: fill a 64 MiB image through the mount until a write
// fails with ENOSPC; the filesystem must go on working (sync, read,
// delete, write again), unmount cleanly, pass our fsck and btrfs check,
// and hold every byte written before, after a remount.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// enospcFiller writes pattern files one after the other.
type enospcFiller struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	d     *mountDaemon
	files []*patternFile
	next  uint64 // number of the next file
}

func TestMountENOSPC(t *testing.T) {
	needFuse(t)
	needBtrfsProgs(t)
	seed := mountSeed(t)
	bin := buildCowfs(t)
	img := filepath.Join(t.TempDir(), "small.img")
	mkfsImage(t, bin, img, "64M")
	mnt := newMountpoint(t)
	f := &enospcFiller{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 11)), d: startDaemon(t, bin, img, mnt, "--commit-interval", "0")}
	err := f.fill()
	require.True(t, errors.Is(err, syscall.ENOSPC), "filling the image: %v, want ENOSPC; daemon:\n%s", err, f.d.stderr)
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(mnt, &st))
	t.Logf("ENOSPC after %d files: %v; statfs: %d of %d blocks free", len(f.files), err, st.Bavail, st.Blocks)
	f.sync()
	f.verifyAll(mnt)
	f.deleteAndWriteAgain()
	f.d.umount()
	cowfsFsckClean(t, bin, img)
	btrfsCheck(t, img, "--check-data-csum")
	d := startDaemon(t, bin, img, mnt, "--read-only")
	f.verifyAll(mnt)
	d.umount()
}

// fill writes files of 256 KiB to 2 MiB, syncing after every third, until
// an error, which it returns.
func (f *enospcFiller) fill() error {
	for i := 0; ; i++ {
		if err := f.writeFile(256<<10 + f.rng.IntN(7<<18)); err != nil {
			return err
		}
		if i%3 == 2 {
			f.sync()
		}
		if i > 1000 {
			return errors.New("64 MiB image took more than 1000 files")
		}
	}
}

// writeFile creates the next file and writes it whole.
func (f *enospcFiller) writeFile(size int) error {
	id := f.next
	f.next++
	pf := newPatternFile(f.rng, fmt.Sprintf("f%03d", id), id, size, 128<<10)
	fd, err := os.OpenFile(filepath.Join(f.d.mnt, pf.rel), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer fd.Close()
	f.files = append(f.files, pf)
	content := patternContent(f.seed, id, size)
	for !pf.done() {
		if err := pf.writeNext(fd, content); err != nil {
			return err
		}
	}
	return nil
}

// sync runs `cowfs sync`, which must succeed even on a full filesystem.
func (f *enospcFiller) sync() {
	f.t.Helper()
	r := f.d.sync()
	require.Equal(f.t, 0, r.Code, "cowfs sync: %s%s", r.Stdout, r.Stderr)
	for _, pf := range f.files {
		pf.markSynced()
	}
}

// verifyAll requires every byte written so far (the failed write's
// chunk excluded).
func (f *enospcFiller) verifyAll(mnt string) {
	f.t.Helper()
	for _, pf := range f.files {
		require.NoError(f.t, checkPatternFile(mnt, f.seed, pf, true))
	}
}

// deleteAndWriteAgain deletes the first two files, syncs (their extents
// are freed once the commit is durable) and writes a new file.
func (f *enospcFiller) deleteAndWriteAgain() {
	f.t.Helper()
	for _, pf := range f.files[:2] {
		require.NoError(f.t, os.Remove(filepath.Join(f.d.mnt, pf.rel)))
	}
	f.files = f.files[2:]
	f.sync()
	require.NoError(f.t, f.writeFile(256<<10), "writing after deleting files on a full filesystem")
	f.sync()
}
