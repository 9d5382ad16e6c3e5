package alloc

import (
	"fmt"

	"cowfs/disk/format"
)

// Chunk sizes, as the kernel picks them for a single device: a tenth of the
// device, at most 1 GiB for data, 256 MiB for metadata and 32 MiB for
// system chunks, at least 1 MiB; smaller when the largest hole is smaller.
const (
	mib          = 1 << 20
	maxDataChunk = 1024 * mib
	maxMetaChunk = 256 * mib
	maxSysChunk  = 32 * mib
	minChunk     = mib
)

// NewChunk creates a chunk and its block group of type typ (DATA,
// METADATA or SYSTEM) in the largest-enough first hole of the device. The
// group is usable at once; its CHUNK_ITEM, DEV_EXTENT and BLOCK_GROUP_ITEM
// are inserted by the transaction (TakePending). ErrNoSpace when no hole of
// at least 1 MiB is left.
func (a *Allocator) NewChunk(typ uint64) (*BlockGroup, error) {
	a.chunkMu.Lock()
	defer a.chunkMu.Unlock()
	a.mu.Lock()
	phys, length, ok := a.holeLocked(a.chunkSize(typ))
	logical := a.nextLogicalLocked()
	a.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("new %s chunk: device of %d bytes is fully allocated: %w", typeName(typ), a.cfg.DevTotal, ErrNoSpace)
	}
	c := &format.ChunkItem{
		Length: length, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen,
		Type: typ, IOAlign: format.StripeLen, IOWidth: format.StripeLen,
		SectorSize: a.cfg.SectorSize, NumStripes: 1, SubStripes: 1,
		Stripes: []format.Stripe{{DevID: a.cfg.DevID, Offset: phys, DevUUID: a.cfg.DevUUID}},
	}
	if err := a.cfg.Chunks.Insert(logical, c); err != nil {
		return nil, fmt.Errorf("%w: new chunk: %w", ErrAccounting, err)
	}
	g, err := a.newBlockGroup(logical, length, typ)
	if err != nil {
		return nil, err
	}
	// Pending from its first moment: DirtyGroups must never hand the
	// commit a group whose BLOCK_GROUP_ITEM does not exist yet.
	g.pending = true
	g.listedDirty = g.listed != nil // its FREE_SPACE_INFO is to be inserted
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.insertGroupLocked(g); err != nil {
		return nil, err
	}
	a.addDevUsedLocked(Range{phys, length})
	a.mu.stats.Chunks++
	return g, nil
}

func (a *Allocator) chunkSize(typ uint64) uint64 {
	limit := uint64(maxMetaChunk)
	switch typ {
	case format.BlockGroupData:
		limit = maxDataChunk
	case format.BlockGroupSystem:
		limit = maxSysChunk
	}
	return max(minChunk, min(limit, a.cfg.DevTotal/10/mib*mib))
}

// holeLocked finds the first hole of the device (past the reserved first
// MiB) of want bytes, or else the largest hole, rounded down to a MiB.
// REQUIRES: a.mu.
func (a *Allocator) holeLocked(want uint64) (phys, length uint64, ok bool) {
	var bestAt, best uint64
	at := uint64(format.ReservedBytes)
	consider := func(end uint64) bool {
		if end > at {
			n := (end - at) / mib * mib
			if n >= want {
				bestAt, best = at, want
				return true
			}
			if n > best {
				bestAt, best = at, n
			}
		}
		return false
	}
	for _, r := range a.mu.devUsed {
		if consider(r.Start) {
			return bestAt, best, true
		}
		at = max(at, alignUp(r.End(), mib))
	}
	consider(a.cfg.DevTotal)
	return bestAt, best, best >= minChunk
}

// nextLogicalLocked is where a new chunk starts: after every chunk, 1 MiB
// aligned. REQUIRES: a.mu.
func (a *Allocator) nextLogicalLocked() uint64 {
	end := uint64(format.ReservedBytes)
	for start, c := range a.cfg.Chunks.Chunks() {
		end = max(end, start+c.Length)
	}
	return alignUp(end, mib)
}

// UnallocatedBytes is the device space no chunk holds yet.
func (a *Allocator) UnallocatedBytes() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unallocatedLocked()
}

// unallocatedLocked is UnallocatedBytes. REQUIRES: a.mu.
func (a *Allocator) unallocatedLocked() uint64 {
	used := a.devBytesUsedLocked()
	if used+format.ReservedBytes >= a.cfg.DevTotal {
		return 0
	}
	return a.cfg.DevTotal - format.ReservedBytes - used
}

// TakePending returns the groups created since the last call (their items
// must be inserted now) and marks them as no longer pending.
func (a *Allocator) TakePending() []GroupInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []GroupInfo
	for _, g := range a.mu.groups {
		if g.pending {
			out = append(out, g.info())
			g.pending, g.dirty = false, false
		}
	}
	return out
}

// Chunk returns the chunk item of the group starting at start.
func (a *Allocator) Chunk(start uint64) (*format.ChunkItem, bool) {
	s, c, ok := a.cfg.Chunks.Lookup(start)
	return c, ok && s == start
}

// The kernel's threshold for adding a chunk that nothing forces
// (should_alloc_chunk with CHUNK_ALLOC_NO_FORCE): the type's groups must be
// 80% full, reservations (may_use) not counted, 2 MiB of slack.
const (
	chunkFullPercent = 80
	chunkFullSlack   = 2 * mib
)

// ShouldAllocChunk reports whether the groups of type typ are full enough
// for a new chunk before any allocation fails: used + reserved + pinned +
// readonly + 2 MiB ≥ 80% of their total, and a chunk still fits.
func (a *Allocator) ShouldAllocChunk(typ uint64) bool {
	si := a.Space(typ)
	busy := si.Used + si.Reserved + si.Pinned + si.Readonly
	return busy+chunkFullSlack >= si.Total*chunkFullPercent/100 && a.UnallocatedBytes() >= minChunk
}
