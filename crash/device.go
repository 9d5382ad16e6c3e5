package crash

import (
	"fmt"
	"sync"

	"cowfs/disk"
)

// device is a crash state as a disk.Device: reads and writes go to its
// image, whose own pages take the writes (recovery's, the oracles'), so
// the shared layers below are never changed.
type device struct {
	mu    sync.RWMutex // writers hold it; readers share it
	im    *image
	stats disk.Stats
}

var _ disk.Device = (*device)(nil)

// sparseDevice is a zeroed device of size bytes holding only the pages
// written: the workloads run on it (a disk.MemDevice would allocate and
// clear all of it for every run).
func sparseDevice(size int64) *device { return &device{im: newImage(size, nil)} }

// newDevice is a device over a fresh layer on top of im.
func newDevice(im *image) *device { return &device{im: newImage(im.size, im)} }

func (d *device) check(n int, off int64) error {
	if off < 0 || off+int64(n) > d.Size() {
		return fmt.Errorf("crash state: %w: %d bytes at %d, size %d", disk.ErrOutOfRange, n, off, d.Size())
	}
	return nil
}

// ReadAt reads the state.
func (d *device) ReadAt(p []byte, off int64, k disk.Kind) error {
	if err := d.check(len(p), off); err != nil {
		return err
	}
	d.mu.RLock()
	d.im.read(p, off)
	d.mu.RUnlock()
	return nil
}

// WriteAt writes the state's own layer.
func (d *device) WriteAt(p []byte, off int64, k disk.Kind) error {
	if err := d.check(len(p), off); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.im.write(p, off)
	d.stats.WriteBytes[k] += uint64(len(p))
	d.stats.WriteOps[k]++
	return nil
}

// WriteDurable is WriteAt: the state lives in memory.
func (d *device) WriteDurable(p []byte, off int64, k disk.Kind) error {
	if err := d.WriteAt(p, off, k); err != nil {
		return err
	}
	return d.Flush()
}

// Flush counts a flush.
func (d *device) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.Flushes++
	return nil
}

// Size is the image's size.
func (d *device) Size() int64 { return d.im.size }

// Stats counts the state's writes and flushes (reads are not counted).
func (d *device) Stats() disk.Stats {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.stats
}

// Close does nothing.
func (d *device) Close() error { return nil }
