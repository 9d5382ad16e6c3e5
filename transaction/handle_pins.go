package transaction

import (
	"cowfs/cache"
	"cowfs/ctree"
)

// Pins of the pin-handle COW policy (ctree.PolicyPinHandle; and of
// overwrite+pin where it cannot overwrite): every copy a
// handle's COWs make stays dirty and unwritten until the handle ends, so
// none of its searches finds a copy of its own WRITTEN and COWs it again.
// Start sizes the storage from the reservation, one slot per node the
// handle may charge, so PinUntilEnd never allocates within it; a handle
// that charges more (lenient overspend, a joined handle) grows the list.

// newHandlePins returns the pin storage of a handle reserving bytes
// (empty when the policy pins nothing: only pin-handle, and overwrite+pin
// on a zoned device, pin).
func (fs *FS) newHandlePins(bytes uint64) cache.PinList {
	o := fs.opts.Tree
	if o.Policy != ctree.PolicyPinHandle && (o.Policy != ctree.PolicyOverwritePin || !o.Zoned) {
		return cache.NewPinList(fs.cache, 0)
	}
	return cache.NewPinList(fs.cache, int(bytes/uint64(fs.NodeSize())))
}

// PinUntilEnd blocks eb's writeback until End, holding a reference. The
// commit's own handle pins what it dirties anyway (commitPins).
func (h *Handle) PinUntilEnd(eb *cache.ExtentBuffer) {
	if h.kind != commitHandle {
		h.handlePins.Pin(eb)
	}
}
