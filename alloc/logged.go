package alloc

// Extents a log tree holds: its own blocks and the data extents its file
// extents point to are not in the extent tree, so the allocator loaded
// them as free. Log replay takes them out of free space before anything
// is allocated, as the kernel's pin-only walk of the log does.

// PinFree moves a free extent straight to pinned: a log block, kept from
// reuse until the transaction that replays (or drops) the log is durable.
func (a *Allocator) PinFree(start, length uint64) error {
	return a.takeFree(start, length, "free→pinned", func(g *BlockGroup, r Range) {
		a.pinLocked(g, r)
	})
}

// ReserveFree moves a free extent to reserved, as if allocated by the
// running transaction: a logged data extent, whose extent item replay
// inserts (ReservedToUsed), or which the commit frees if nothing refers
// to it.
func (a *Allocator) ReserveFree(start, length uint64) error {
	return a.takeFree(start, length, "free→reserved", func(g *BlockGroup, r Range) {
		g.Reserved += r.Len
	})
}

func (a *Allocator) takeFree(start, length uint64, what string, to func(*BlockGroup, Range)) error {
	return a.move(start, length, what, func(g *BlockGroup) error {
		r := Range{start, length}
		if err := g.free.remove(r); err != nil {
			return err
		}
		to(g, r)
		return nil
	})
}
