package fs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConcurrent: workers change their own directories (and names in a
// shared one) in parallel while commits run from a timer, from Sync and
// from the dirty threshold; each worker checks its files against its own
// model, and the image must be clean at the end.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.Transaction.CommitInterval = 25 * time.Millisecond
	o.DirtyThreshold = 2 << 20
	tf := newTestFSOpts(t, 512<<20, o)
	seed := testSeed(t)
	shared, err := tf.Mkdir(tf.Root(), "shared", 0o755, Creator{})
	require.NoError(t, err)
	const workers, ops = 6, 250
	var wg sync.WaitGroup
	var stop atomic.Bool
	errs := make(chan error, workers+2)
	models := make([]map[string][]byte, workers)
	dirs := make([]uint64, workers)
	for w := range workers {
		d, err := tf.Mkdir(tf.Root(), fmt.Sprintf("w%d", w), 0o755, Creator{})
		require.NoError(t, err)
		dirs[w] = d.Ino
		models[w] = map[string][]byte{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			if err := concurrentWorker(tf.FS, rng, w, d.Ino, shared.Ino, models[w], ops); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { // a reader and syncer
		defer bg.Done()
		for !stop.Load() {
			if err := tf.ReadDir(shared.Ino, 0, func(DirEntry) bool { return true }); err != nil {
				errs <- err
				return
			}
			if _, err := tf.StatFs(); err != nil {
				errs <- err
				return
			}
			if err := tf.Sync(); err != nil {
				errs <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	wg.Wait()
	stop.Store(true)
	bg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	check := func() {
		for w := range workers {
			got := tf.names(dirs[w])
			require.Len(t, got, len(models[w]), "worker %d", w)
			for name, data := range models[w] {
				e, ok := got[name]
				require.True(t, ok, "worker %d: %q", w, name)
				require.True(t, bytes.Equal(data, tf.readAll(e.Ino)), "worker %d: content of %q", w, name)
			}
		}
	}
	check()
	tf.reopen()
	check()
}

func concurrentWorker(fs *FS, rng *rand.Rand, w int, dir, shared uint64, files map[string][]byte, ops int) error {
	inos := map[string]uint64{}
	pick := func() (string, bool) {
		for name := range files {
			return name, true
		}
		return "", false
	}
	for i := 0; i < ops; i++ {
		switch r := rng.IntN(100); {
		case r < 20:
			name := fmt.Sprintf("f%d", rng.IntN(30))
			if _, ok := files[name]; ok {
				continue
			}
			a, err := fs.Create(dir, name, 0o644, Creator{})
			if err != nil {
				return err
			}
			files[name], inos[name] = nil, a.Ino
		case r < 50:
			name, ok := pick()
			if !ok {
				continue
			}
			off := rng.IntN(len(files[name]) + 1)
			p := randBytes(rng, 1+rng.IntN(256<<10))
			if _, err := fs.Write(inos[name], p, uint64(off)); err != nil {
				return err
			}
			d := files[name]
			if end := off + len(p); end > len(d) {
				d = append(d, make([]byte, end-len(d))...)
			}
			copy(d[off:], p)
			files[name] = d
		case r < 60:
			name, ok := pick()
			if !ok {
				continue
			}
			a, err := fs.GetAttr(inos[name])
			if err != nil {
				return err
			}
			p := make([]byte, a.Size)
			n, err := fs.Read(inos[name], p, 0)
			if err != nil {
				return err
			}
			if !bytes.Equal(p[:n], files[name]) {
				return fmt.Errorf("%q: read %d bytes, differ from the %d written", name, n, len(files[name]))
			}
		case r < 68:
			name, ok := pick()
			if !ok {
				continue
			}
			if err := fs.Unlink(dir, name); err != nil {
				return err
			}
			delete(files, name)
			delete(inos, name)
		case r < 76:
			name, ok := pick()
			if !ok {
				continue
			}
			to := fmt.Sprintf("f%d", rng.IntN(30))
			if err := fs.Rename(dir, name, dir, to, 0); err != nil {
				return err
			}
			if to != name {
				files[to], inos[to] = files[name], inos[name]
				delete(files, name)
				delete(inos, name)
			}
		case r < 84: // the shared directory: create, move across, remove
			name := fmt.Sprintf("s%d-%d", w, rng.IntN(5))
			if _, err := fs.Mkdir(shared, name, 0o755, Creator{}); err != nil && Errno(err) != 17 {
				return err
			}
			if err := fs.Rename(shared, name, dir, "moved", 0); err != nil {
				return err
			}
			if err := fs.Rename(dir, "moved", shared, name, 0); err != nil {
				return err
			}
			if rng.IntN(2) == 0 {
				if err := fs.Rmdir(shared, name); err != nil {
					return err
				}
			}
		case r < 90:
			name, ok := pick()
			if !ok {
				continue
			}
			size := uint64(rng.IntN(len(files[name]) + 1))
			if _, err := fs.SetAttr(inos[name], SetAttrIn{Size: &size}); err != nil {
				return err
			}
			files[name] = files[name][:size]
		case r < 95:
			if err := fs.SetXattr(dir, fmt.Sprintf("user.%d", rng.IntN(4)), randBytes(rng, 100), 0); err != nil {
				return err
			}
		default:
			name, ok := pick()
			if !ok {
				continue
			}
			if err := fs.Fsync(inos[name]); err != nil {
				return err
			}
		}
	}
	return nil
}
