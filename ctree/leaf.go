package ctree

import "cowfs/disk/format"

// Byte-level edits of one leaf, keeping the layout btrfs requires: item
// headers from the front, data packed from the end, item 0's data ending at
// the end of the block and item i's ending where item i-1's begins. Callers
// hold the leaf's write lock and check free space first. Offsets are relative
// to the data area (format.HeaderSize), as on disk.

// dataArea returns the bytes item offsets are relative to.
func dataArea(l format.Leaf) []byte { return l[format.HeaderSize:] }

// dataEndAt is where the data of the item at slot must end.
func dataEndAt(l format.Leaf, slot int) uint32 {
	if slot == 0 {
		return uint32(len(l) - format.HeaderSize)
	}
	return l.ItemOffset(slot - 1)
}

// dataStart is the lowest data offset in use (the last item's).
func dataStart(l format.Leaf) uint32 { return dataEndAt(l, l.NrItems()) }

// leafUsed is the bytes of item headers and data.
func leafUsed(l format.Leaf) int {
	return l.NrItems()*format.ItemHeaderSize + len(l) - format.HeaderSize - int(dataStart(l))
}

// insertItems opens zeroed items with keys and sizes at slot.
func insertItems(l format.Leaf, slot int, keys []format.Key, sizes []uint32) {
	n, k := l.NrItems(), len(keys)
	var total uint32
	for _, s := range sizes {
		total += s
	}
	d := dataArea(l)
	end, start := dataEndAt(l, slot), dataStart(l)
	copy(d[start-total:], d[start:end])
	for i := n - 1; i >= slot; i-- {
		l.SetItem(i+k, l.ItemKey(i), l.ItemOffset(i)-total, l.ItemSize(i))
	}
	off := end
	for j, key := range keys {
		off -= sizes[j]
		l.SetItem(slot+j, key, off, sizes[j])
		clear(d[off : off+sizes[j]])
	}
	l.Header().SetNrItems(uint32(n + k))
}

// delItems removes items [slot, slot+nr) and zeroes what they used.
func delItems(l format.Leaf, slot, nr int) {
	n := l.NrItems()
	d := dataArea(l)
	end, delStart, start := dataEndAt(l, slot), l.ItemOffset(slot+nr-1), dataStart(l)
	gap := end - delStart
	copy(d[start+gap:], d[start:delStart])
	clear(d[start : start+gap])
	for i := slot + nr; i < n; i++ {
		l.SetItem(i-nr, l.ItemKey(i), l.ItemOffset(i)+gap, l.ItemSize(i))
	}
	hdr := format.HeaderSize + (n-nr)*format.ItemHeaderSize
	clear(l[hdr : hdr+nr*format.ItemHeaderSize])
	l.Header().SetNrItems(uint32(n - nr))
}

// resizeItem grows (new bytes zeroed) or shrinks the item at slot at the
// end of its data.
func resizeItem(l format.Leaf, slot int, size uint32) {
	n := l.NrItems()
	d := dataArea(l)
	old, off, start := l.ItemSize(slot), l.ItemOffset(slot), dataStart(l)
	keep := off + min(old, size)
	if size > old {
		grow := size - old
		copy(d[start-grow:], d[start:keep])
		clear(d[keep-grow : keep])
		for i := slot; i < n; i++ {
			l.SetItemOffset(i, l.ItemOffset(i)-grow)
		}
	} else {
		shrink := old - size
		copy(d[start+shrink:], d[start:keep])
		clear(d[start : start+shrink])
		for i := slot; i < n; i++ {
			l.SetItemOffset(i, l.ItemOffset(i)+shrink)
		}
	}
	l.SetItemSize(slot, size)
}

// moveItems moves items [from, to) of src into dst at dstSlot.
func moveItems(src format.Leaf, from, to int, dst format.Leaf, dstSlot int) {
	if from >= to {
		return
	}
	keys := make([]format.Key, 0, to-from)
	sizes := make([]uint32, 0, to-from)
	for i := from; i < to; i++ {
		keys = append(keys, src.ItemKey(i))
		sizes = append(sizes, src.ItemSize(i))
	}
	insertItems(dst, dstSlot, keys, sizes)
	for i := from; i < to; i++ {
		copy(dst.ItemData(dstSlot+i-from), src.ItemData(i))
	}
	delItems(src, from, to-from)
}
