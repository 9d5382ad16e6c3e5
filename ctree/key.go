package ctree

import "cowfs/disk/format"

// Keys are ordered by format.Key.Compare: objectid, then type, then offset,
// each as an unsigned number. Within a leaf item keys strictly increase;
// within a node pointer keys strictly increase and pointer i's key is the
// first key of child i's subtree.

// leafSlot returns the slot of key in leaf l, or where it would be inserted.
func leafSlot(l format.Leaf, key format.Key) (int, bool) {
	slot, found, _ := leafSlotCounted(l, key)
	return slot, found
}

// nodeSlot returns the slot of the child whose subtree holds key: the last
// pointer whose key is <= key, or 0 when key sorts before every pointer.
func nodeSlot(n format.Node, key format.Key) (int, bool) {
	slot, found, _ := nodeSlotCounted(n, key)
	return slot, found
}

// leafSlotCounted is leafSlot that also returns the keys it compared.
func leafSlotCounted(l format.Leaf, key format.Key) (int, bool, int) {
	return blockSlot(l, format.ItemHeaderSize, key, l.NrItems())
}

// nodeSlotCounted is nodeSlot that also returns the keys it compared.
func nodeSlotCounted(n format.Node, key format.Key) (int, bool, int) {
	i, found, cmps := blockSlot(n, format.KeyPtrSize, key, n.NrItems())
	if !found {
		i = max(i-1, 0)
	}
	return i, found, cmps
}

// blockSlot returns where key is, or would be inserted, among the nr keys
// of block b (see lowerBound), whether it is there, and the keys compared.
func blockSlot(b []byte, size int, key format.Key, nr int) (int, bool, int) {
	i, cmps := lowerBound(b, size, key, nr)
	if i == nr {
		return i, false, cmps
	}
	return i, blockKey(b, size, i) == key, cmps + 1
}

// lowerBound returns the first of the nr keys of block b, which are size
// bytes apart, that is >= key (nr when there is none), and the number of
// keys it compared: a binary search. A leaf's item headers and a node's
// key pointers both start with their key, right after the block header
// (btrfs-format.md §2.2), so one search serves both.
func lowerBound(b []byte, size int, key format.Key, nr int) (int, int) {
	lo, hi, cmps := 0, nr, 0
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		cmps++
		if blockKey(b, size, m).Less(key) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, cmps
}

// MaxKey is the largest key.
var MaxKey = format.Key{ObjectID: ^uint64(0), Type: ^uint8(0), Offset: ^uint64(0)}

// keySucc returns the smallest key after k; false for MaxKey.
func keySucc(k format.Key) (format.Key, bool) {
	switch {
	case k.Offset != ^uint64(0):
		k.Offset++
	case k.Type != ^uint8(0):
		k.Type, k.Offset = k.Type+1, 0
	case k.ObjectID != ^uint64(0):
		k.ObjectID, k.Type, k.Offset = k.ObjectID+1, 0, 0
	default:
		return k, false
	}
	return k, true
}

// keyPred returns the largest key before k; false for the zero key.
func keyPred(k format.Key) (format.Key, bool) {
	switch {
	case k.Offset != 0:
		k.Offset--
	case k.Type != 0:
		k.Type, k.Offset = k.Type-1, ^uint64(0)
	case k.ObjectID != 0:
		k.ObjectID, k.Type, k.Offset = k.ObjectID-1, ^uint8(0), ^uint64(0)
	default:
		return k, false
	}
	return k, true
}

// blockKey is the key of item or pointer i of block b, size bytes apart.
func blockKey(b []byte, size, i int) format.Key { return format.ReadKey(b[format.HeaderSize+i*size:]) }
