package alloc

import "cowfs/disk/format"

// reuseNowLocked is UsedToPinned with bug inject.ReuseFreed (disk/inject) on: the extent
// is free at once and the next allocation of its type starts there, so
// the running transaction overwrites a block the last commit still
// points to. REQUIRES: a.mu.
func (a *Allocator) reuseNowLocked(g *BlockGroup, r Range) error {
	g.Pinned += r.Len
	if err := a.unpinLocked(r); err != nil {
		return err
	}
	for _, typ := range []uint64{format.BlockGroupData, format.BlockGroupMetadata, format.BlockGroupSystem} {
		if g.Flags&typ != 0 {
			a.mu.cursor[typ] = min(a.mu.cursor[typ], r.Start)
		}
	}
	return g.list(r) // the free-space tree lists it, as UsedToPinned does
}
