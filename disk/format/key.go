package format

import (
	"encoding/binary"
	"fmt"
)

// Key is a btrfs key: (objectid, type, offset), ordered as unsigned values in
// that order. On disk it is 17 packed bytes.
type Key struct {
	ObjectID uint64
	Type     uint8
	Offset   uint64
}

// Compare returns -1, 0 or +1 as k sorts before, equal to or after o.
func (k Key) Compare(o Key) int {
	switch {
	case k.ObjectID < o.ObjectID:
		return -1
	case k.ObjectID > o.ObjectID:
		return 1
	case k.Type < o.Type:
		return -1
	case k.Type > o.Type:
		return 1
	case k.Offset < o.Offset:
		return -1
	case k.Offset > o.Offset:
		return 1
	}
	return 0
}

// Less reports whether k sorts before o.
func (k Key) Less(o Key) bool { return k.Compare(o) < 0 }

// ReadKey decodes a key from the first 17 bytes of b.
func ReadKey(b []byte) Key {
	_ = b[KeySize-1]
	return Key{
		ObjectID: binary.LittleEndian.Uint64(b[0:]),
		Type:     b[8],
		Offset:   binary.LittleEndian.Uint64(b[9:]),
	}
}

// PutKey encodes k into the first 17 bytes of b.
func PutKey(b []byte, k Key) {
	_ = b[KeySize-1]
	binary.LittleEndian.PutUint64(b[0:], k.ObjectID)
	b[8] = k.Type
	binary.LittleEndian.PutUint64(b[9:], k.Offset)
}

// String prints the key as btrfs dump-tree does: (256 INODE_ITEM 0).
func (k Key) String() string {
	return fmt.Sprintf("(%s %s %s)", ObjectIDString(k.ObjectID, k.Type),
		KeyTypeString(k.Type), keyOffsetString(k))
}

func keyOffsetString(k Key) string {
	if k.Type == UUIDKeySubvol || k.Type == UUIDKeyReceivedSubvol {
		return fmt.Sprintf("0x%016x", k.Offset)
	}
	if k.Type == RootItemKey && k.ObjectID == TreeRelocObjectID {
		return ObjectIDString(k.Offset, 0)
	}
	if k.Offset == ^uint64(0) {
		return "-1"
	}
	return fmt.Sprintf("%d", k.Offset)
}

// UUID is a 16-byte identifier (fsid, chunk tree uuid, device uuid).
type UUID [UUIDSize]byte

// String formats the UUID in the usual 8-4-4-4-12 form.
func (u UUID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// IsZero reports whether every byte is zero.
func (u UUID) IsZero() bool { return u == UUID{} }
