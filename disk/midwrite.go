package disk

import "sync"

// MidWriteDevice wraps a Device and splits the next metadata write at an
// armed physical offset in two halves, calling a hook between them on the
// writing goroutine: what the hook changes in the caller's bytes reaches
// the device in the second half. Tests use it to put a writer exactly in
// the middle of a write in flight (a torn write, deterministically).
type MidWriteDevice struct {
	Device

	mu   sync.Mutex
	at   int64
	hook func()
}

// NewMidWriteDevice wraps inner; nothing is armed.
func NewMidWriteDevice(inner Device) *MidWriteDevice { return &MidWriteDevice{Device: inner} }

// OnNextWrite arms hook for the next metadata write starting at physical
// offset at (once).
func (d *MidWriteDevice) OnNextWrite(at int64, hook func()) {
	d.mu.Lock()
	d.at, d.hook = at, hook
	d.mu.Unlock()
}

// WriteAt writes p, in two halves with the armed hook between them when p
// is a metadata write starting at the offset.
func (d *MidWriteDevice) WriteAt(p []byte, off int64, k Kind) error {
	hook := d.take(off, k)
	if hook == nil {
		return d.Device.WriteAt(p, off, k)
	}
	half := len(p) / 2
	if err := d.Device.WriteAt(p[:half], off, k); err != nil {
		return err
	}
	hook()
	return d.Device.WriteAt(p[half:], off+int64(half), k)
}

func (d *MidWriteDevice) take(off int64, k Kind) func() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hook == nil || off != d.at || k != KindMeta {
		return nil
	}
	h := d.hook
	d.hook = nil
	return h
}
