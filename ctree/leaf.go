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

// Shifting items moves the run of item headers with one copy and the run of
// their data with another, then rewrites only the data offsets of the
// moved headers (their keys and sizes are unchanged): the keys are never
// decoded.

// openItems makes room for k items taking total data bytes at slot: the
// headers from slot on move k places right, their data total bytes toward
// the front, and the item count grows by k. It returns where the data of
// the new items ends (the first one's end); the new headers and data are
// left for the caller to write.
func openItems(l format.Leaf, slot, k int, total uint32) uint32 {
	n := l.NrItems()
	d := dataArea(l)
	end, start := dataEndAt(l, slot), dataStart(l)
	copy(d[start-total:], d[start:end])
	copy(l.ItemHeaders(slot+k, n+k), l.ItemHeaders(slot, n))
	for i := slot + k; i < n+k; i++ {
		l.SetItemOffset(i, l.ItemOffset(i)-total)
	}
	l.Header().SetNrItems(uint32(n + k))
	return end
}

// insertItems opens zeroed items with keys and sizes at slot.
func insertItems(l format.Leaf, slot int, keys []format.Key, sizes []uint32) {
	var total uint32
	for _, s := range sizes {
		total += s
	}
	off := openItems(l, slot, len(keys), total)
	d := dataArea(l)
	for j, key := range keys {
		off -= sizes[j]
		l.SetItem(slot+j, key, off, sizes[j])
		clear(d[off : off+sizes[j]])
	}
}

// delItems removes items [slot, slot+nr) and zeroes what they used.
func delItems(l format.Leaf, slot, nr int) {
	n := l.NrItems()
	d := dataArea(l)
	end, delStart, start := dataEndAt(l, slot), l.ItemOffset(slot+nr-1), dataStart(l)
	gap := end - delStart
	copy(d[start+gap:], d[start:delStart])
	clear(d[start : start+gap])
	copy(l.ItemHeaders(slot, n-nr), l.ItemHeaders(slot+nr, n))
	for i := slot; i < n-nr; i++ {
		l.SetItemOffset(i, l.ItemOffset(i)+gap)
	}
	clear(l.ItemHeaders(n-nr, n))
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

// moveItems moves items [from, to) of src into dst at dstSlot: their
// headers with one copy, their data with another, then their offsets
// rebased from src's data area to dst's.
func moveItems(src format.Leaf, from, to int, dst format.Leaf, dstSlot int) {
	if from >= to {
		return
	}
	k := to - from
	srcEnd, srcStart := dataEndAt(src, from), src.ItemOffset(to-1)
	total := srcEnd - srcStart
	dstEnd := openItems(dst, dstSlot, k, total)
	copy(dataArea(dst)[dstEnd-total:dstEnd], dataArea(src)[srcStart:srcEnd])
	copy(dst.ItemHeaders(dstSlot, dstSlot+k), src.ItemHeaders(from, to))
	for i := dstSlot; i < dstSlot+k; i++ {
		dst.SetItemOffset(i, dst.ItemOffset(i)-srcEnd+dstEnd)
	}
	delItems(src, from, k)
}
