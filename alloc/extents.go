package alloc

import (
	"fmt"

	"cowfs/disk/format"
	"cowfs/disk/inject"
)

// The life of an extent, in the counters of its block group:
//
//	free --Alloc--> Reserved --ReservedToUsed--> Used --UsedToPinned--> Pinned --Unpin--> free
//	                   |  \--Unreserve--> free                            ^
//	                   \--------------------PinReserved------------------/
//
// ReservedToUsed and UsedToPinned happen when delayed refs insert and
// delete extent items; Unreserve returns a block allocated and freed in the
// same transaction and never written (its delayed refs cancel out);
// PinReserved does the same for one that was written, which must stay
// untouched until the transaction is durable.

// AllocTree allocates one tree block: nodesize-aligned from its group's
// start, never crossing a 64 KiB stripe boundary, in a SYSTEM group for the
// chunk tree and a METADATA group otherwise. ErrNoSpace means no group of
// that type has a free block: add a chunk (NewChunk) and retry.
func (a *Allocator) AllocTree(system bool) (uint64, error) {
	typ := format.BlockGroupMetadata
	if system {
		typ = format.BlockGroupSystem
	}
	ns := uint64(a.cfg.NodeSize)
	return a.alloc(typ, ns, ns, format.StripeLen)
}

// AllocData allocates a sector-aligned data extent of length bytes (a
// multiple of the sector size) in a DATA group.
func (a *Allocator) AllocData(length uint64) (uint64, error) {
	ss := uint64(a.cfg.SectorSize)
	if length == 0 || length%ss != 0 {
		return 0, fmt.Errorf("%w: data extent of %d bytes (sector size %d)", ErrAccounting, length, ss)
	}
	return a.alloc(format.BlockGroupData, length, ss, 0)
}

// alloc finds space next-fit: from the type's cursor to the end of its
// groups, then from the start. Next-fit keeps a transaction's new blocks
// close together (the commit writes them in long runs) and does not reuse
// space the moment it is unpinned.
func (a *Allocator) alloc(typ, length, align, boundary uint64) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cursor := a.mu.cursor[typ]
	for pass := 0; pass < 2; pass++ {
		for _, g := range a.mu.groups {
			if g.Flags&typ == 0 || g.End() <= cursor || g.free.bytes < length {
				continue
			}
			at, ok := g.free.find(max(cursor, g.Start), length, g.Start, align, boundary)
			if !ok {
				continue
			}
			if err := g.free.remove(Range{at, length}); err != nil {
				return 0, fmt.Errorf("%w: %w", ErrAccounting, err)
			}
			g.Reserved += length
			a.mu.cursor[typ] = at + length
			a.mu.stats.Allocs++
			return at, nil
		}
		cursor = 0
	}
	a.mu.stats.AllocFailures++
	return 0, fmt.Errorf("%s extent of %d bytes: %w", typeName(typ), length, ErrNoSpace)
}

// ReservedToUsed: the extent's item was inserted into the extent tree.
func (a *Allocator) ReservedToUsed(start, length uint64) error {
	return a.move(start, length, "reserved→used", func(g *BlockGroup) error {
		if err := take(&g.Reserved, length, g, "reserved"); err != nil {
			return err
		}
		g.Used += length
		g.dirty = true
		return g.unlist(Range{start, length})
	})
}

// UsedToPinned: the extent's item was deleted; the space stays unusable
// until Unpin (the last committed tree may still point there).
func (a *Allocator) UsedToPinned(start, length uint64) error {
	return a.move(start, length, "used→pinned", func(g *BlockGroup) error {
		if err := take(&g.Used, length, g, "used"); err != nil {
			return err
		}
		g.dirty = true
		if inject.On(inject.ReuseFreed) {
			return a.reuseNowLocked(g, Range{start, length})
		}
		a.pinLocked(g, Range{start, length})
		return g.list(Range{start, length})
	})
}

// PinReserved: a block allocated in this transaction, written, then freed.
func (a *Allocator) PinReserved(start, length uint64) error {
	return a.move(start, length, "reserved→pinned", func(g *BlockGroup) error {
		if err := take(&g.Reserved, length, g, "reserved"); err != nil {
			return err
		}
		a.pinLocked(g, Range{start, length})
		return nil
	})
}

// Unreserve: a block allocated in this transaction and freed unwritten is
// free again at once.
func (a *Allocator) Unreserve(start, length uint64) error {
	return a.move(start, length, "reserved→free", func(g *BlockGroup) error {
		if err := take(&g.Reserved, length, g, "reserved"); err != nil {
			return err
		}
		if err := g.free.add(Range{start, length}); err != nil {
			g.Reserved += length
			return err
		}
		return nil
	})
}

func (a *Allocator) pinLocked(g *BlockGroup, r Range) {
	g.Pinned += r.Len
	a.mu.pinned = append(a.mu.pinned, r)
	a.mu.stats.PinnedBytes += r.Len
}

func (a *Allocator) move(start, length uint64, what string, fn func(*BlockGroup) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, err := a.groupLocked(Range{start, length})
	if err == nil {
		err = fn(g)
	}
	if err != nil {
		return fmt.Errorf("%w: %s %v: %w", ErrAccounting, what, Range{start, length}, err)
	}
	return nil
}

func take(counter *uint64, n uint64, g *BlockGroup, name string) error {
	if *counter < n {
		return fmt.Errorf("%v: %s %d < %d", g, name, *counter, n)
	}
	*counter -= n
	return nil
}

// Unpin returns every extent pinned by the running transaction to free
// space. Call it once the transaction's superblock is durable. On an error
// the extents not yet returned (the failing one included, its counters
// untouched) stay pinned, so that no extent is ever freed twice.
func (a *Allocator) Unpin() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, r := range a.mu.pinned {
		if err := a.unpinLocked(r); err != nil {
			a.mu.pinned = append(a.mu.pinned[:0], a.mu.pinned[i:]...)
			return err
		}
	}
	a.mu.pinned = a.mu.pinned[:0]
	return nil
}

// unpinLocked frees one pinned extent, or changes nothing. REQUIRES: a.mu.
func (a *Allocator) unpinLocked(r Range) error {
	g, err := a.groupLocked(r)
	if err != nil {
		return err
	}
	if err := take(&g.Pinned, r.Len, g, "pinned"); err != nil {
		return fmt.Errorf("%w: unpin %v: %w", ErrAccounting, r, err)
	}
	if err := g.free.add(r); err != nil {
		g.Pinned += r.Len
		return fmt.Errorf("%w: unpin %v: %w", ErrAccounting, r, err)
	}
	return nil
}

// PinnedBytes is the space pinned by the running transaction.
func (a *Allocator) PinnedBytes() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n uint64
	for _, r := range a.mu.pinned {
		n += r.Len
	}
	return n
}

// DirtyGroups returns the groups whose used changed since DirtyGroups was
// last called (pending groups excepted: TakePending reports those) and
// clears the mark: the commit rewrites their items.
func (a *Allocator) DirtyGroups() []GroupInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []GroupInfo
	for _, g := range a.mu.groups {
		if g.dirty && !g.pending {
			out = append(out, g.info())
			g.dirty = false
		}
	}
	return out
}
