package ctree

import (
	"sort"

	"cowfs/disk/format"
)

// Keys are ordered by format.Key.Compare: objectid, then type, then offset,
// each as an unsigned number. Within a leaf item keys strictly increase;
// within a node pointer keys strictly increase and pointer i's key is the
// first key of child i's subtree.

// leafSlot returns the slot of key in leaf l, or where it would be inserted.
func leafSlot(l format.Leaf, key format.Key) (int, bool) {
	n := l.NrItems()
	i := sort.Search(n, func(i int) bool { return l.ItemKey(i).Compare(key) >= 0 })
	return i, i < n && l.ItemKey(i).Compare(key) == 0
}

// nodeSlot returns the slot of the child whose subtree holds key: the last
// pointer whose key is <= key, or 0 when key sorts before every pointer.
func nodeSlot(n format.Node, key format.Key) (int, bool) {
	nr := n.NrItems()
	i := sort.Search(nr, func(i int) bool { return n.Key(i).Compare(key) >= 0 })
	if i < nr && n.Key(i).Compare(key) == 0 {
		return i, true
	}
	if i > 0 {
		i--
	}
	return i, false
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
