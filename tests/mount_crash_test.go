package tests

// TestMountKill9: kill -9 of the daemon while many files are being
// written, with `cowfs sync` every so often. The kill comes at a seeded
// write count (never after a sleep), from another goroutine while the
// writer goes on, so it lands among writes in flight. The dead mount is detached
// as a user would (fusermount3 -u); the image as the crash left it must
// pass our fsck and btrfs check; remounted, it must hold everything the
// last successful sync committed, and the rest either absent or
// consistent (each byte the file's own or a hole).

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// crashWriter writes pattern files through a mount until the daemon dies.
type crashWriter struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	d      *mountDaemon
	files  []*patternFile
	active []*activeFile // files being written
	killed atomic.Bool
	syncs  int
	writes int
	bytes  int64
}

// activeFile is a pattern file being written.
type activeFile struct {
	*patternFile
	fd      *os.File
	content []byte
}

// crashOpenFiles is how many files are being written at once.
const crashOpenFiles = 6

func TestMountKill9(t *testing.T) {
	needFuse(t)
	needBtrfsProgs(t)
	seed := mountSeed(t)
	bin := buildCowfs(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	mkfsImage(t, bin, img, "2G")
	mnt := newMountpoint(t)
	flags := []string{"--commit-interval", "0", "--cache-budget", "4M", "--data-buffer", "8M"}
	w := &crashWriter{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 9)), d: startDaemon(t, bin, img, mnt, flags...)}
	killAt := crashMinWrites + w.rng.IntN(crashKillSpread)
	err := w.run(killAt)
	require.True(t, w.killed.Load(), "the workload failed before the kill: %v", err)
	w.closeAll()
	w.d.reapKilled()
	t.Logf("killed at write %d: %d files (%d MiB written by %d writes), %d syncs; the writer saw %v", killAt,
		len(w.files), w.bytes>>20, w.writes, w.syncs, err)
	cowfsFsckClean(t, bin, img)
	btrfsCheck(t, img, "--check-data-csum")
	d := startDaemon(t, bin, img, mnt)
	w.verify(mnt)
	d.umount()
	cowfsFsckClean(t, bin, img)
	btrfsCheck(t, img, "--check-data-csum")
}

// The kill comes at write crashMinWrites + [0, crashKillSpread), drawn
// from the seed; a writer that goes crashAfterKill writes beyond it
// without an error fails the test.
const (
	crashMinWrites  = 100
	crashKillSpread = 1000
	crashAfterKill  = 100000
)

// run writes until a write or a sync fails (the daemon is dead), with a
// `cowfs sync` after 1 write in 40 on average. At write killAt it has
// another goroutine send SIGKILL and writes on.
func (w *crashWriter) run(killAt int) error {
	for w.writes < killAt+crashAfterKill {
		if err := w.step(); err != nil {
			return err
		}
		if w.writes++; w.writes == killAt {
			w.killed.Store(true)
			go w.d.cmd.Process.Signal(syscall.SIGKILL)
		}
		if w.rng.IntN(40) == 0 {
			if r := w.d.sync(); r.Code != 0 {
				return fmt.Errorf("cowfs sync: exit %d: %s", r.Code, r.Stderr)
			}
			w.syncs++
			for _, f := range w.files {
				f.markSynced()
			}
		}
	}
	return fmt.Errorf("%d writes after the kill and none failed", crashAfterKill)
}

// step writes one chunk of a random file in progress, starting files
// (in eight directories) to keep crashOpenFiles of them going.
func (w *crashWriter) step() error {
	for len(w.active) < crashOpenFiles {
		if err := w.start(); err != nil {
			return err
		}
	}
	i := w.rng.IntN(len(w.active))
	a := w.active[i]
	c := a.chunks[0]
	if err := a.writeNext(a.fd, a.content); err != nil {
		return err
	}
	w.bytes += int64(c.n)
	if !a.done() {
		return nil
	}
	w.active = slices.Delete(w.active, i, i+1)
	return a.fd.Close()
}

// start creates the next file.
func (w *crashWriter) start() error {
	id := uint64(len(w.files))
	f := newPatternFile(w.rng, fmt.Sprintf("d%d/f%04d", id%8, id), id, 16<<10+w.rng.IntN(2<<20), 256<<10)
	if err := os.MkdirAll(filepath.Join(w.d.mnt, filepath.Dir(f.rel)), 0o755); err != nil {
		return err
	}
	fd, err := os.OpenFile(filepath.Join(w.d.mnt, f.rel), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	w.files = append(w.files, f)
	w.active = append(w.active, &activeFile{f, fd, patternContent(w.seed, id, f.size)})
	return nil
}

func (w *crashWriter) closeAll() {
	for _, a := range w.active {
		a.fd.Close()
	}
	w.active = nil
}

// verify judges every file and requires no other names.
func (w *crashWriter) verify(mnt string) {
	known := map[string]bool{}
	for _, f := range w.files {
		known[f.rel] = true
		require.NoError(w.t, checkPatternFile(mnt, w.seed, f, false))
	}
	for i := range 8 {
		ents, err := os.ReadDir(filepath.Join(mnt, fmt.Sprintf("d%d", i)))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(w.t, err)
		for _, e := range ents {
			rel := fmt.Sprintf("d%d/%s", i, e.Name())
			require.True(w.t, known[rel], "%s: a name the workload never made", rel)
		}
	}
}
