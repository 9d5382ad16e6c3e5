package fscktest

import (
	"fmt"
	"testing"

	"cowfs/disk/format"
	"cowfs/fsck"
)

// ItemRef locates one item of a verified leaf.
type ItemRef struct {
	Block BlockRef
	Slot  int
	Key   format.Key
	Data  []byte // a copy of the item's payload when it was found
}

// Items lists the items of the leaves first reached by tree's walk whose
// key and payload match, in key order.
func Items(t testing.TB, path string, tree uint64, match func(k format.Key, data []byte) bool) []ItemRef {
	t.Helper()
	var out []ItemRef
	var block []byte
	withImage(t, path, func(img *fsck.Image) { block = make([]byte, img.NodeSize()) })
	for _, b := range Blocks(t, path) {
		if b.Tree != tree || b.Level != 0 {
			continue
		}
		readAt(t, path, block, b.Phys)
		l := format.Leaf(block)
		for i := range l.NrItems() {
			k, data := l.ItemKey(i), l.ItemData(i)
			if match(k, data) {
				out = append(out, ItemRef{Block: b, Slot: i, Key: k, Data: append([]byte(nil), data...)})
			}
		}
	}
	return out
}

// FindItem returns the first item Items would list; it fails t if none.
func FindItem(t testing.TB, path string, tree uint64, match func(k format.Key, data []byte) bool) ItemRef {
	t.Helper()
	items := Items(t, path, tree, match)
	if len(items) == 0 {
		t.Fatalf("no item of tree %d in %s matches", tree, path)
	}
	return items[0]
}

// KeyIs matches items by key type, and by objectid unless it is 0.
func KeyIs(objectid uint64, typ uint8) func(format.Key, []byte) bool {
	return func(k format.Key, _ []byte) bool {
		return k.Type == typ && (objectid == 0 || k.ObjectID == objectid)
	}
}

// EditItem lets change edit the payload (and key) of the item at ref in
// place, then fixes the leaf's checksum.
func EditItem(t testing.TB, path string, ref ItemRef, change func(l format.Leaf, slot int)) {
	t.Helper()
	PatchBlock(t, path, ref.Block, true, func(block []byte) {
		l := format.Leaf(block)
		if l.ItemKey(ref.Slot) != ref.Key {
			t.Fatalf("item %d of block %d is %v, expect %v", ref.Slot, ref.Block.Bytenr, l.ItemKey(ref.Slot), ref.Key)
		}
		change(l, ref.Slot)
	})
}

// DeleteItem removes the item at ref from its leaf. The first item of a
// leaf below a node cannot be removed this way (the node's key for the
// leaf would then be wrong).
func DeleteItem(t testing.TB, path string, ref ItemRef) {
	t.Helper()
	if ref.Slot == 0 && ref.Block.Parent != 0 {
		t.Fatalf("cannot delete the first item of block %d: its parent's key names it", ref.Block.Bytenr)
	}
	EditItem(t, path, ref, func(l format.Leaf, slot int) { RemoveItem(l, slot) })
}

// RemoveItem deletes item slot of a leaf: its header goes, and the data of
// the items after it moves up to close the gap.
func RemoveItem(l format.Leaf, slot int) {
	n := l.NrItems()
	size := l.ItemSize(slot)
	low := format.HeaderSize + int(l.ItemOffset(n-1))
	at := format.HeaderSize + int(l.ItemOffset(slot))
	copy(l[low+int(size):at+int(size)], l[low:at])
	clear(l[low : low+int(size)])
	for i := slot + 1; i < n; i++ {
		l.SetItemOffset(i, l.ItemOffset(i)+size)
	}
	hdr := func(i int) int { return format.HeaderSize + i*format.ItemHeaderSize }
	copy(l[hdr(slot):], l[hdr(slot+1):hdr(n)])
	clear(l[hdr(n-1):hdr(n)])
	l.Header().SetNrItems(uint32(n - 1))
}

// InsertItem adds an item at slot (which must keep the keys in order),
// moving the data of the items from slot on down to make room.
func InsertItem(l format.Leaf, slot int, k format.Key, data []byte) error {
	n := l.NrItems()
	if l.FreeSpace() < format.ItemHeaderSize+len(data) {
		return fmt.Errorf("leaf has %d bytes free, need %d", l.FreeSpace(), format.ItemHeaderSize+len(data))
	}
	size := uint32(len(data))
	end := uint32(len(l) - format.HeaderSize) // where item slot's data will end
	if slot > 0 {
		end = l.ItemOffset(slot - 1)
	}
	if slot < n {
		low := format.HeaderSize + int(l.ItemOffset(n-1))
		copy(l[low-int(size):], l[low:format.HeaderSize+int(end)])
		for i := slot; i < n; i++ {
			l.SetItemOffset(i, l.ItemOffset(i)-size)
		}
	}
	hdr := func(i int) int { return format.HeaderSize + i*format.ItemHeaderSize }
	copy(l[hdr(slot+1):hdr(n+1)], l[hdr(slot):hdr(n)])
	l.Header().SetNrItems(uint32(n + 1))
	l.SetItem(slot, k, end-size, size)
	copy(l[format.HeaderSize+int(end-size):], data)
	return nil
}

// PatchSuper lets change edit the primary superblock and rewrites it with a
// fresh checksum (the mirrors keep the old values).
func PatchSuper(t testing.TB, path string, change func(s *format.Super)) {
	t.Helper()
	buf := make([]byte, format.SuperSize)
	readAt(t, path, buf, format.SuperInfoOffset)
	s, err := format.DecodeSuper(buf)
	if err != nil {
		t.Fatal(err)
	}
	change(s)
	WriteAt(t, path, s.EncodeWithCsum(), format.SuperInfoOffset)
}

// PatchData lets change edit n bytes of file data at a logical address.
func PatchData(t testing.TB, path string, logical uint64, n int, change func(p []byte)) {
	t.Helper()
	var phys int64
	var err error
	withImage(t, path, func(img *fsck.Image) { phys, err = img.Chunks.Physical(logical, uint64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	readAt(t, path, buf, phys)
	change(buf)
	WriteAt(t, path, buf, phys)
}
