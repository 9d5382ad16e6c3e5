package ctree

import "cowfs/disk/format"

// Byte-level edits of one node's key pointers. Callers hold the node's
// write lock and check room (MaxKeyPtrs) and bounds first.

// Pointers move as runs of bytes (one copy per run): a key pointer holds
// no offsets, so nothing needs rewriting.

// insertPtr inserts kp at slot, shifting the pointers after it right.
func insertPtr(n format.Node, slot int, kp format.KeyPtr) {
	nr := n.NrItems()
	copy(n.Ptrs(slot+1, nr+1), n.Ptrs(slot, nr))
	n.SetPtr(slot, kp)
	n.Header().SetNrItems(uint32(nr + 1))
}

// delPtrs removes pointers [slot, slot+nr) and zeroes the freed tail.
func delPtrs(n format.Node, slot, nr int) {
	total := n.NrItems()
	copy(n.Ptrs(slot, total-nr), n.Ptrs(slot+nr, total))
	clear(n.Ptrs(total-nr, total))
	n.Header().SetNrItems(uint32(total - nr))
}

// movePtrs moves pointers [from, to) of src to dst at dstSlot.
func movePtrs(src format.Node, from, to int, dst format.Node, dstSlot int) {
	k := to - from
	dn := dst.NrItems()
	copy(dst.Ptrs(dstSlot+k, dn+k), dst.Ptrs(dstSlot, dn))
	copy(dst.Ptrs(dstSlot, dstSlot+k), src.Ptrs(from, to))
	dst.Header().SetNrItems(uint32(dn + k))
	delPtrs(src, from, k)
}
