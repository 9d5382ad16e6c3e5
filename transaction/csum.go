package transaction

// Data checksums: the csum tree's EXTENT_CSUM items.
//
// An item (EXTENT_CSUM_OBJECTID -10, EXTENT_CSUM 128, bytenr) holds the
// checksums of consecutive data sectors from bytenr on, csum_size bytes
// each (the superblock's csum type). Items never overlap and hold at most
// maxCsumsPerItem sums (the kernel's MAX_CSUM_ITEMS; btrfs check #67). An
// item may span several data extents: the kernel extends the item before
// when new sums continue it, and so does InsertCsums.
//
// Checksums belong to the data extent, not to the file: they are inserted
// when the extent is written and deleted when its last reference goes
// (the kernel deletes them in __btrfs_free_extent). Here the delayed-ref
// runner reports each deleted data extent item (accounting.ExtentDeleted,
// recorded in Transaction.mu.dropCsums), and the commit's fixed point
// deletes their sums with dropFreedCsums. Data extents allocated by the
// transaction that never got a reference (written and then overwritten in
// the same transaction, or abandoned) never had an extent item: the same
// step deletes their sums and frees them.
//
// Every edit holds FS.csumMu: an edit reads the neighbouring items
// and then changes them, which must not interleave with another handle's.
// Readers take it only to confirm a miss (LookupCsums).

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"cowfs/alloc"
	"cowfs/ctree"
	"cowfs/disk/format"
)

// ErrNoCsum matches every CsumMissingError.
var ErrNoCsum = errors.New("data checksum missing")

// CsumMissingError reports a data sector without a checksum, in the
// kernel's words ("csum hole found"). errors.Is(err, ErrNoCsum) holds.
type CsumMissingError struct {
	Sector        uint64 // logical address of the first sector without a checksum
	Start, Length uint64 // the range looked up
}

func (e *CsumMissingError) Error() string {
	return fmt.Sprintf("csum hole found for disk bytenr range [%d, %d): no checksum for sector %d",
		e.Start, e.Start+e.Length, e.Sector)
}

// Is makes every CsumMissingError match ErrNoCsum.
func (e *CsumMissingError) Is(target error) bool { return target == ErrNoCsum }

// maxCsumsPerItem is the most checksums one EXTENT_CSUM item may hold: the
// kernel's MAX_CSUM_ITEMS, (leaf data size - 2 item headers) / csum size
// - 1; 2,028 xxhash64 sums in a 16 KiB leaf, 492 in a 4 KiB one.
func maxCsumsPerItem(nodesize uint32, csumSize int) int {
	return (int(format.LeafDataSize(nodesize))-2*format.ItemHeaderSize)/csumSize - 1
}

// csumGeometry is what csum edits need to know of the filesystem.
type csumGeometry struct {
	sector  uint64 // sector size
	size    int    // bytes per checksum
	maxSums int    // per item
}

func (fs *FS) csumGeometry() csumGeometry {
	ctx := fs.env.Ctx
	cs := ctx.CsumType.Size()
	return csumGeometry{sector: uint64(ctx.SectorSize), size: cs, maxSums: maxCsumsPerItem(ctx.NodeSize, cs)}
}

// sums is the number of checksums in an item of n bytes.
func (g csumGeometry) sums(n int) uint64 { return uint64(n / g.size) }

// end is the first byte after the sectors an item checksums.
func (g csumGeometry) end(it ctree.Item) uint64 { return it.Key.Offset + g.sums(len(it.Data))*g.sector }

func (g csumGeometry) checkRange(what string, start, length uint64) error {
	switch {
	case start%g.sector != 0 || length%g.sector != 0:
		return fmt.Errorf("%s [%d, +%d): not aligned to the sector size %d", what, start, length, g.sector)
	case start+length < start:
		return fmt.Errorf("%s [%d, +%d): wraps past 2^64", what, start, length)
	}
	return nil
}

func csumKey(bytenr uint64) format.Key {
	return format.Key{ObjectID: format.ExtentCsumObjectID, Type: format.ExtentCsumKey, Offset: bytenr}
}

func isCsumItem(k format.Key) bool {
	return k.ObjectID == format.ExtentCsumObjectID && k.Type == format.ExtentCsumKey
}

func (fs *FS) csumTree() (*ctree.Root, error) {
	r, err := fs.Tree(format.CsumTreeObjectID)
	if err != nil {
		return nil, fmt.Errorf("%w: the csum tree is missing", format.ErrCorrupt)
	}
	return r, nil
}

// InsertCsums records sums, one checksum per sector from bytenr on (the
// superblock's csum type and size): continuing the item that ends at
// bytenr while it and its leaf have room, else in new items of at most
// maxCsumsPerItem sums. Sums of sectors that already have one overwrite
// them.
func (h *Handle) InsertCsums(bytenr uint64, sums []byte) error {
	if err := h.usable(); err != nil {
		return err
	}
	fs := h.fs
	g := fs.csumGeometry()
	if len(sums)%g.size != 0 {
		return fmt.Errorf("insert csums at %d: %d bytes, not a multiple of the csum size %d", bytenr, len(sums), g.size)
	}
	if err := g.checkRange("insert csums", bytenr, g.sums(len(sums))*g.sector); err != nil {
		return err
	}
	root, err := fs.csumTree()
	if err != nil {
		return err
	}
	h.fs.csumMu.Lock()
	defer h.fs.csumMu.Unlock()
	for len(sums) > 0 {
		n, err := insertCsumsOnce(h, root, g, bytenr, sums)
		if err != nil {
			return fmt.Errorf("insert csums at %d: %w", bytenr, err)
		}
		bytenr += n * g.sector
		sums = sums[n*uint64(g.size):]
	}
	return nil
}

// csumSpot is what InsertCsums needs to know around bytenr.
type csumSpot struct {
	prev     ctree.Item // the item at or before bytenr
	hasPrev  bool
	prevFree int    // free bytes of prev's leaf
	next     uint64 // start of the first item after bytenr
	hasNext  bool
}

// insertCsumsOnce stores a first part of sums (all that fits one item) and
// returns how many sums it stored.
func insertCsumsOnce(h *Handle, root *ctree.Root, g csumGeometry, bytenr uint64, sums []byte) (uint64, error) {
	s, err := findCsumSpot(root, bytenr)
	if err != nil {
		return 0, err
	}
	want := g.sums(len(sums))
	if s.hasNext {
		want = min(want, (s.next-bytenr)/g.sector)
	}
	if s.hasPrev {
		pn, pend := g.sums(len(s.prev.Data)), g.end(s.prev)
		switch {
		case bytenr < pend: // overwrite sums the item holds
			i := (bytenr - s.prev.Key.Offset) / g.sector
			n := min(g.sums(len(sums)), pn-i)
			return n, overwriteCsums(h, root, s.prev.Key, i*uint64(g.size), sums[:n*uint64(g.size)])
		case bytenr == pend && pn < uint64(g.maxSums):
			// Continue the item, into its leaf's free room only (no split).
			n := min(want, uint64(g.maxSums)-pn, uint64(s.prevFree/g.size))
			if n > 0 {
				return n, extendCsums(h, root, s.prev.Key, len(s.prev.Data), sums[:n*uint64(g.size)])
			}
		}
	}
	n := min(want, uint64(g.maxSums))
	if n == 0 {
		return 0, fmt.Errorf("%w: csum item at %d overlaps sector %d", format.ErrCorrupt, s.next, bytenr)
	}
	return n, ctree.InsertItem(h, root, csumKey(bytenr), sums[:n*uint64(g.size)])
}

// findCsumSpot reads the csum item at or before bytenr and the start of
// the one after it. It holds one path at a time (a second search while a
// leaf is locked could wait for a writer queued behind that lock).
func findCsumSpot(root *ctree.Root, bytenr uint64) (csumSpot, error) {
	var s csumSpot
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(nil, root, csumKey(bytenr), &p, 0, false)
	if err != nil {
		return s, err
	}
	l, slot := p.Leaf(), p.Slot(0)
	if found {
		slot++
	}
	if slot > 0 {
		s.prev, s.prevFree, s.hasPrev = leafItem(l, slot-1), l.FreeSpace(), true
	}
	needNext := slot >= l.NrItems()
	if !needNext {
		s.next, s.hasNext = l.ItemKey(slot).Offset, isCsumItem(l.ItemKey(slot))
	}
	if !s.hasPrev {
		ok, err := ctree.PrevLeaf(root, &p)
		if err != nil {
			return s, err
		}
		if ok {
			s.prev, s.prevFree, s.hasPrev = leafItem(p.Leaf(), p.Slot(0)), p.Leaf().FreeSpace(), true
		}
	}
	p.Release()
	s.hasPrev = s.hasPrev && isCsumItem(s.prev.Key)
	if needNext {
		s.next, s.hasNext, err = firstCsumFrom(root, csumKey(bytenr+1))
	}
	return s, err
}

// leafItem copies item slot of l.
func leafItem(l format.Leaf, slot int) ctree.Item {
	return ctree.Item{Key: l.ItemKey(slot), Data: slices.Clone(l.ItemData(slot))}
}

// firstCsumFrom returns the start of the first csum item with key >= k.
func firstCsumFrom(root *ctree.Root, k format.Key) (uint64, bool, error) {
	it := root.ScanFrom(k)
	if it.Next() {
		key := it.Item().Key
		return key.Offset, isCsumItem(key), nil
	}
	return 0, false, it.Err()
}

// overwriteCsums replaces the bytes at off of the item with key by sums.
func overwriteCsums(h *Handle, root *ctree.Root, key format.Key, off uint64, sums []byte) error {
	return updateItem(h, root, key, func(b []byte) ([]byte, error) {
		out := slices.Clone(b)
		copy(out[off:], sums)
		return out, nil
	})
}

// extendCsums appends sums to the item with key, of size bytes.
func extendCsums(h *Handle, root *ctree.Root, key format.Key, size int, sums []byte) error {
	var p ctree.Path
	defer p.Release()
	if err := ctree.ExtendItem(h, root, &p, key, uint32(len(sums))); err != nil {
		return err
	}
	copy(p.ItemData()[size:], sums)
	return nil
}

// DeleteCsums removes the checksums of every sector in [start,
// start+length): items inside the range are deleted, items reaching
// beyond it are trimmed, and an item covering both ends is split in two.
func (h *Handle) DeleteCsums(start, length uint64) error {
	if err := h.usable(); err != nil {
		return err
	}
	fs := h.fs
	g := fs.csumGeometry()
	if err := g.checkRange("delete csums", start, length); err != nil {
		return err
	}
	if length == 0 {
		return nil
	}
	root, err := fs.csumTree()
	if err != nil {
		return err
	}
	h.fs.csumMu.Lock()
	defer h.fs.csumMu.Unlock()
	items, err := csumItemsIn(root, g, start, start+length)
	if err != nil {
		return fmt.Errorf("delete csums [%d, +%d): %w", start, length, err)
	}
	if err := deleteCsumItems(h, root, g, items, start, start+length); err != nil {
		return fmt.Errorf("delete csums [%d, +%d): %w", start, length, err)
	}
	return nil
}

// deleteCsumItems removes [start, end) from items (those csumItemsIn
// returned): whole items in runs per leaf, then the ones to trim or split.
func deleteCsumItems(h *Handle, root *ctree.Root, g csumGeometry, items []ctree.Item, start, end uint64) error {
	var whole []format.Key
	var partial []ctree.Item
	for _, it := range items {
		if it.Key.Offset >= start && g.end(it) <= end {
			whole = append(whole, it.Key)
		} else {
			partial = append(partial, it)
		}
	}
	if err := ctree.DeleteKeys(h, root, whole); err != nil {
		return err
	}
	for _, it := range partial {
		if err := trimCsumItem(h, root, g, it, start, end); err != nil {
			return err
		}
	}
	return nil
}

// trimCsumItem removes the sums of [start, end) from it, which reaches
// beyond the range on one side or both: it keeps its head (truncated) and
// its tail moves to a new item at end.
func trimCsumItem(h *Handle, root *ctree.Root, g csumGeometry, it ctree.Item, start, end uint64) error {
	is, ie := it.Key.Offset, g.end(it)
	cs := uint64(g.size)
	var tail []byte
	if ie > end {
		tail = it.Data[(end-is)/g.sector*cs:]
	}
	if is < start {
		var p ctree.Path
		err := ctree.TruncateItem(h, root, &p, it.Key, uint32((start-is)/g.sector*cs))
		p.Release()
		if err != nil {
			return err
		}
	} else if err := ctree.DeleteItem(h, root, it.Key); err != nil {
		return err
	}
	if tail != nil {
		return ctree.InsertItem(h, root, csumKey(end), tail)
	}
	return nil
}

// csumItemsIn returns copies of the csum items holding sums of sectors in
// [start, end), in key order: the item before start when it reaches into
// the range, then every item starting inside it.
func csumItemsIn(root *ctree.Root, g csumGeometry, start, end uint64) ([]ctree.Item, error) {
	s, err := findCsumSpot(root, start)
	if err != nil {
		return nil, err
	}
	from := start
	if s.hasPrev && g.end(s.prev) > start {
		from = s.prev.Key.Offset
	}
	var out []ctree.Item
	it := root.Scan(csumKey(from), csumKey(end))
	for it.Next() {
		if item := it.Item(); isCsumItem(item.Key) && g.end(item) > start {
			out = append(out, item)
		}
	}
	return out, it.Err()
}

// LookupCsums returns the checksums of the sectors of [start,
// start+length), csum_size bytes each; a sector without one fails with a
// *CsumMissingError naming the first.
//
// It takes no lock, but an edit moving sums between items (a trim deletes
// an item and inserts its tail) could show a reader a gap for a moment:
// a miss is therefore looked up again holding the edits' lock.
func (fs *FS) LookupCsums(start, length uint64) ([]byte, error) {
	g := fs.csumGeometry()
	if err := g.checkRange("look up csums", start, length); err != nil {
		return nil, err
	}
	root, err := fs.csumTree()
	if err != nil {
		return nil, err
	}
	out, err := lookupCsums(root, g, start, length)
	if errors.Is(err, ErrNoCsum) {
		fs.csumMu.Lock()
		out, err = lookupCsums(root, g, start, length)
		fs.csumMu.Unlock()
	}
	return out, err
}

func lookupCsums(root *ctree.Root, g csumGeometry, start, length uint64) ([]byte, error) {
	end := start + length
	items, err := csumItemsIn(root, g, start, end)
	if err != nil {
		return nil, fmt.Errorf("look up csums [%d, +%d): %w", start, length, err)
	}
	out := make([]byte, 0, length/g.sector*uint64(g.size))
	pos := start
	for _, it := range items {
		if it.Key.Offset > pos {
			break
		}
		if g.end(it) <= pos {
			continue
		}
		i, n := (pos-it.Key.Offset)/g.sector, (min(g.end(it), end)-pos)/g.sector
		out = append(out, it.Data[i*uint64(g.size):(i+n)*uint64(g.size)]...)
		pos += n * g.sector
	}
	if pos < end {
		return nil, &CsumMissingError{Sector: pos, Start: start, Length: length}
	}
	return out, nil
}

// dropFreedCsums is the commit's step for checksums (see the top of this
// file): it deletes the sums of the data extents whose items the delayed
// refs deleted, and of the data extents the transaction allocated that
// never got a reference (whose space it also frees; dropUnusedData would
// otherwise). It returns how many ranges it cleared, for the fixed point.
func (fs *FS) dropFreedCsums(t *Transaction, h *Handle) (int, error) {
	t.mu.Lock()
	freed, unused := t.mu.dropCsums, []alloc.Range(nil)
	t.mu.dropCsums = nil
	for b, f := range t.mu.fresh {
		if f.data {
			unused = append(unused, alloc.Range{Start: b, Len: f.length})
			delete(t.mu.fresh, b)
		}
	}
	t.mu.Unlock()
	ranges := mergeRanges(append(freed, unused...))
	for _, r := range ranges {
		if err := h.DeleteCsums(r.Start, r.Len); err != nil {
			return 0, fmt.Errorf("checksums of freed data: %w", err)
		}
	}
	for _, r := range unused {
		if err := fs.alloc.Unreserve(r.Start, r.Len); err != nil {
			return 0, err
		}
	}
	return len(ranges), nil
}

// mergeRanges sorts ranges and merges the adjacent or overlapping ones.
func mergeRanges(rs []alloc.Range) []alloc.Range {
	slices.SortFunc(rs, func(a, b alloc.Range) int { return cmp.Compare(a.Start, b.Start) })
	var out []alloc.Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.Start <= out[n-1].End() {
			out[n-1].Len = max(out[n-1].End(), r.End()) - out[n-1].Start
			continue
		}
		out = append(out, r)
	}
	return out
}
