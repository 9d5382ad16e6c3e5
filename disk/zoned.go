package disk

import (
	"errors"
	"fmt"
	"sync"
)

// ZonedDevice emulates the one constraint of a zoned device that the COW
// policies must respect: a metadata block, once written, cannot be written
// again until its zone is reset (Reset; a zone is a block group's
// physical range). The write is refused with ErrZonedRewrite. It is not
// the kernel's zoned format: no zone geometry, write pointers, sequential
// allocation or superblock log; data and superblock writes are not
// constrained.
type ZonedDevice struct {
	Device
	block int64 // granularity of the written map: the node size

	mu      sync.Mutex
	written map[int64]bool // physical offset / block → written since reset
}

// ErrZonedRewrite marks a write a ZonedDevice refused.
var ErrZonedRewrite = errors.New("zoned device: rewrite of a written block before its zone is reset")

// NewZonedDevice wraps inner, tracking metadata writes in blocks of block
// bytes (the node size).
func NewZonedDevice(inner Device, block int64) *ZonedDevice {
	return &ZonedDevice{Device: inner, block: block, written: map[int64]bool{}}
}

// Zoned marks the device zoned (IsZoned).
func (d *ZonedDevice) Zoned() bool { return true }

// IsZoned reports whether dev refuses rewrites (a ZonedDevice).
func IsZoned(dev Device) bool {
	z, ok := dev.(interface{ Zoned() bool })
	return ok && z.Zoned()
}

// WriteAt refuses a metadata write that covers a block written since its
// zone's last reset, and otherwise writes and records it.
func (d *ZonedDevice) WriteAt(p []byte, off int64, k Kind) error {
	if k != KindMeta {
		return d.Device.WriteAt(p, off, k)
	}
	if err := d.claim(off, int64(len(p))); err != nil {
		return err
	}
	return d.Device.WriteAt(p, off, k)
}

// claim records [off, off+n) as written, or refuses it whole.
func (d *ZonedDevice) claim(off, n int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	first, end := off/d.block, (off+n+d.block-1)/d.block
	for b := first; b < end; b++ {
		if d.written[b] {
			return fmt.Errorf("%w: physical %d", ErrZonedRewrite, b*d.block)
		}
	}
	for b := first; b < end; b++ {
		d.written[b] = true
	}
	return nil
}

// Reset resets the zone [off, off+n): its blocks may be written again.
func (d *ZonedDevice) Reset(off, n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for b := off / d.block; b < (off+n+d.block-1)/d.block; b++ {
		delete(d.written, b)
	}
}
