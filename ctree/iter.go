package ctree

import "cowfs/disk/format"

// Moving between leaves and scanning ranges. Both re-search from the root
// with read locks instead of walking sideways with locks held, so a scan
// never holds a lock between two calls and never waits for a neighbour.
// Under concurrent changes a scan sees each key at most once and in order;
// an item inserted or deleted while the scan runs may or may not be seen.

// NextLeaf moves p (from any search) to the first item after the last item
// of its current leaf, normally slot 0 of the next leaf, read-locked. It
// returns false, with p released, when the leaf is the last one.
func NextLeaf(root *Root, p *Path) (bool, error) {
	for {
		upper, ok := p.upperBound()
		p.Release()
		if !ok {
			return false, nil
		}
		if _, err := SearchSlot(nil, root, upper, p, 0, false); err != nil {
			return false, err
		}
		if p.slots[0] < p.Leaf().NrItems() {
			return true, nil
		}
	}
}

// PrevLeaf moves p to the last item before the first item of its current
// leaf, normally the last slot of the previous leaf, read-locked. It returns
// false, with p released, when the leaf is the first one (or empty).
func PrevLeaf(root *Root, p *Path) (bool, error) {
	l := p.Leaf()
	if l == nil || l.NrItems() == 0 {
		p.Release()
		return false, nil
	}
	first := l.ItemKey(0)
	p.Release()
	pred, ok := keyPred(first)
	if !ok {
		return false, nil
	}
	found, err := SearchSlot(nil, root, pred, p, 0, false)
	if err != nil {
		return false, err
	}
	if !found {
		p.slots[0]--
	}
	if p.slots[0] < 0 {
		p.Release()
		return false, nil
	}
	return true, nil
}

// Item is a key and a copy of its data.
type Item struct {
	Key  format.Key
	Data []byte
}

// Iterator scans the items of a range in key order. It copies one leaf's
// items at a time and holds no lock between calls, so the caller may modify
// the tree while iterating.
type Iterator struct {
	root   *Root
	next   format.Key // where the next leaf's copy starts
	end    format.Key
	hasEnd bool
	buf    []Item
	pos    int
	done   bool
	err    error
}

// Scan iterates over the items with start <= key < end.
func (r *Root) Scan(start, end format.Key) *Iterator {
	return &Iterator{root: r, next: start, end: end, hasEnd: true, pos: -1}
}

// ScanFrom iterates over the items with key >= start.
func (r *Root) ScanFrom(start format.Key) *Iterator {
	return &Iterator{root: r, next: start, pos: -1}
}

// Next advances to the next item; false at the end or on an error (Err).
func (it *Iterator) Next() bool {
	it.pos++
	for it.pos >= len(it.buf) {
		if it.done || it.err != nil {
			return false
		}
		it.fill()
	}
	return true
}

// Item is the current item; its Data stays valid after Next.
func (it *Iterator) Item() Item { return it.buf[it.pos] }

// Err is the error that ended the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// fill copies the items from it.next to the end of its leaf (or the range)
// and sets it.next to the first key of the next leaf.
func (it *Iterator) fill() {
	it.buf, it.pos = it.buf[:0], 0
	var p Path
	defer p.Release()
	if _, err := SearchSlot(nil, it.root, it.next, &p, 0, false); err != nil {
		it.err = err
		return
	}
	l := p.Leaf()
	for i := p.slots[0]; i < l.NrItems(); i++ {
		k := l.ItemKey(i)
		if it.hasEnd && k.Compare(it.end) >= 0 {
			it.done = true
			return
		}
		it.buf = append(it.buf, Item{Key: k, Data: append([]byte(nil), l.ItemData(i)...)})
	}
	upper, ok := p.upperBound()
	it.next, it.done = upper, !ok
}
