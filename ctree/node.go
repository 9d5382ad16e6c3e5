package ctree

import "cowfs/disk/format"

// Byte-level edits of one node's key pointers. Callers hold the node's
// write lock and check room (MaxKeyPtrs) and bounds first.

// insertPtr inserts kp at slot, shifting the pointers after it right.
func insertPtr(n format.Node, slot int, kp format.KeyPtr) {
	nr := n.NrItems()
	for i := nr - 1; i >= slot; i-- {
		n.SetPtr(i+1, n.Ptr(i))
	}
	n.SetPtr(slot, kp)
	n.Header().SetNrItems(uint32(nr + 1))
}

// delPtrs removes pointers [slot, slot+nr) and zeroes the freed tail.
func delPtrs(n format.Node, slot, nr int) {
	total := n.NrItems()
	for i := slot + nr; i < total; i++ {
		n.SetPtr(i-nr, n.Ptr(i))
	}
	for i := total - nr; i < total; i++ {
		n.SetPtr(i, format.KeyPtr{})
	}
	n.Header().SetNrItems(uint32(total - nr))
}

// movePtrs moves pointers [from, to) of src to dst at dstSlot.
func movePtrs(src format.Node, from, to int, dst format.Node, dstSlot int) {
	k := to - from
	dn := dst.NrItems()
	for i := dn - 1; i >= dstSlot; i-- {
		dst.SetPtr(i+k, dst.Ptr(i))
	}
	for i := range k {
		dst.SetPtr(dstSlot+i, src.Ptr(from+i))
	}
	dst.Header().SetNrItems(uint32(dn + k))
	delPtrs(src, from, k)
}
