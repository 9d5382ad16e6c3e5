package format

// Leaf is a byte view of a level-0 tree block. Item i's header sits at
// HeaderSize + i*ItemHeaderSize; its data offset is relative to HeaderSize
// and data is packed from the end of the block toward the front.
type Leaf []byte

// LeafDataSize is the space after the header: nodesize - 101.
func LeafDataSize(nodesize uint32) uint32 { return nodesize - HeaderSize }

// MaxItemSize is the largest single item a leaf of nodesize can hold.
func MaxItemSize(nodesize uint32) uint32 { return LeafDataSize(nodesize) - ItemHeaderSize }

func itemHdr(i int) int { return HeaderSize + i*ItemHeaderSize }

// Header returns the leaf's header view.
func (l Leaf) Header() Header { return Header(l) }

// NrItems is the header's item count.
func (l Leaf) NrItems() int { return int(Header(l).NrItems()) }

// ItemKey returns the key of item i. i must be in the item-header area.
func (l Leaf) ItemKey(i int) Key { return ReadKey(l[itemHdr(i):]) }

// ItemOffset returns item i's data offset, relative to HeaderSize.
func (l Leaf) ItemOffset(i int) uint32 { return le.Uint32(l[itemHdr(i)+KeySize:]) }

// ItemSize returns item i's data size.
func (l Leaf) ItemSize(i int) uint32 { return le.Uint32(l[itemHdr(i)+KeySize+4:]) }

// SetItemKey writes item i's key.
func (l Leaf) SetItemKey(i int, k Key) { PutKey(l[itemHdr(i):], k) }

// SetItemOffset writes item i's data offset (relative to HeaderSize).
func (l Leaf) SetItemOffset(i int, v uint32) { le.PutUint32(l[itemHdr(i)+KeySize:], v) }

// SetItemSize writes item i's data size.
func (l Leaf) SetItemSize(i int, v uint32) { le.PutUint32(l[itemHdr(i)+KeySize+4:], v) }

// ItemHeaders returns the encoded item headers [from, to) in place, for
// moving a run of headers with one copy. from <= to <= the number of
// headers that fit.
func (l Leaf) ItemHeaders(from, to int) []byte { return l[itemHdr(from):itemHdr(to)] }

// SetItem writes item i's whole header.
func (l Leaf) SetItem(i int, k Key, off, size uint32) {
	l.SetItemKey(i, k)
	l.SetItemOffset(i, off)
	l.SetItemSize(i, size)
}

// ItemData returns item i's data in place. The leaf must have been verified
// (see CheckItemBounds); on an unverified leaf use ItemDataChecked.
func (l Leaf) ItemData(i int) []byte {
	off := HeaderSize + int(l.ItemOffset(i))
	return l[off : off+int(l.ItemSize(i)) : off+int(l.ItemSize(i))]
}

// ErrItemBounds reports an item header or item data outside the block. It
// satisfies errors.Is(err, ErrCorrupt).
var ErrItemBounds error = &DecodeError{What: "leaf", Reason: "item outside the leaf"}

// ItemDataChecked is ItemData with every bound checked: it never panics.
func (l Leaf) ItemDataChecked(i int) ([]byte, error) {
	// i is compared as a count, not through itemHdr(i+1), which a huge i
	// would overflow back into range.
	if i < 0 || i >= (len(l)-HeaderSize)/ItemHeaderSize {
		return nil, ErrItemBounds
	}
	off := uint64(HeaderSize) + uint64(l.ItemOffset(i))
	end := off + uint64(l.ItemSize(i))
	if end > uint64(len(l)) || off < uint64(itemHdr(l.NrItems())) {
		return nil, ErrItemBounds
	}
	return l[off:end:end], nil
}

// FreeSpace (valid on verified leaves only) is the unused room between the item headers and the data:
// what an insert may use (each item costs ItemHeaderSize + its size).
func (l Leaf) FreeSpace() int {
	n := l.NrItems()
	end := len(l)
	if n > 0 {
		end = HeaderSize + int(l.ItemOffset(n-1))
	}
	return end - itemHdr(n)
}

// KeyPtr is one entry of a node: the child's first key, its address and the
// generation its header must carry.
type KeyPtr struct {
	Key        Key
	BlockPtr   uint64
	Generation uint64
}

// Node is a byte view of an internal tree block (level >= 1).
type Node []byte

// MaxKeyPtrs is the number of key pointers a node of nodesize holds.
func MaxKeyPtrs(nodesize uint32) int { return int(LeafDataSize(nodesize)) / KeyPtrSize }

func ptrOff(i int) int { return HeaderSize + i*KeyPtrSize }

// Header returns the node's header view.
func (n Node) Header() Header { return Header(n) }

// NrItems is the header's pointer count.
func (n Node) NrItems() int { return int(Header(n).NrItems()) }

// Key returns the key of pointer i.
func (n Node) Key(i int) Key { return ReadKey(n[ptrOff(i):]) }

// BlockPtr returns the child address of pointer i.
func (n Node) BlockPtr(i int) uint64 { return le.Uint64(n[ptrOff(i)+KeySize:]) }

// PtrGeneration returns the expected child generation of pointer i.
func (n Node) PtrGeneration(i int) uint64 { return le.Uint64(n[ptrOff(i)+KeySize+8:]) }

// Ptr returns pointer i whole.
func (n Node) Ptr(i int) KeyPtr {
	return KeyPtr{n.Key(i), n.BlockPtr(i), n.PtrGeneration(i)}
}

// SetKey writes the key of pointer i.
func (n Node) SetKey(i int, k Key) { PutKey(n[ptrOff(i):], k) }

// SetBlockPtr writes the child address of pointer i.
func (n Node) SetBlockPtr(i int, v uint64) { le.PutUint64(n[ptrOff(i)+KeySize:], v) }

// SetPtrGeneration writes the expected child generation of pointer i.
func (n Node) SetPtrGeneration(i int, v uint64) { le.PutUint64(n[ptrOff(i)+KeySize+8:], v) }

// Ptrs returns the encoded key pointers [from, to) in place, for moving a
// run of pointers with one copy. from <= to <= MaxKeyPtrs.
func (n Node) Ptrs(from, to int) []byte { return n[ptrOff(from):ptrOff(to)] }

// SetPtr writes pointer i whole.
func (n Node) SetPtr(i int, p KeyPtr) {
	n.SetKey(i, p.Key)
	n.SetBlockPtr(i, p.BlockPtr)
	n.SetPtrGeneration(i, p.Generation)
}

// PtrInBounds reports whether pointer i lies inside the block.
// (A count comparison: ptrOff(i+1) would overflow back into range for a huge i.)
func (n Node) PtrInBounds(i int) bool { return i >= 0 && i < (len(n)-HeaderSize)/KeyPtrSize }
