package transaction

import (
	"cowfs/cache"
	"cowfs/ctree"
)

// Pins of the pin-handle COW policy (ctree.PolicyPinHandle): every copy a
// handle's COWs make stays dirty and unwritten until the handle ends, so
// none of its searches finds a copy of its own WRITTEN and COWs it again.
// Start sizes the storage from the reservation, one slot per node the
// handle may charge, so PinUntilEnd never allocates within it; a handle
// that charges more (lenient overspend, a joined handle) grows the list.

// newHandlePins returns the pin storage of a handle reserving bytes, or
// nil when the policy is not pin-handle.
func (fs *FS) newHandlePins(bytes uint64) []*cache.ExtentBuffer {
	if fs.opts.Tree.Policy != ctree.PolicyPinHandle {
		return nil
	}
	return make([]*cache.ExtentBuffer, 0, bytes/uint64(fs.NodeSize()))
}

// PinUntilEnd blocks eb's writeback until End, holding a reference. The
// commit's own handle pins what it dirties anyway (commitPins).
func (h *Handle) PinUntilEnd(eb *cache.ExtentBuffer) {
	if h.kind == commitHandle {
		return
	}
	eb.BlockWriteback()
	h.handlePins = append(h.handlePins, h.fs.cache.Ref(eb))
}

// unpinHandle drops the pins at End.
func (h *Handle) unpinHandle() {
	for _, eb := range h.handlePins {
		eb.UnblockWriteback()
		h.fs.cache.Release(eb)
	}
	h.handlePins = nil
}
