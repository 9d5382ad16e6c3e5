package alloc

import (
	"fmt"
	"syscall"

	"cowfs/disk/format"
)

// Block reserves, as btrfs keeps them. Space is promised before it is
// used: a reserve takes bytes from its space_info's free space (may_use
// grows), work then consumes them (may_use shrinks and the allocation's
// reserved grows), and whatever is left goes back at release.
//
//	space_info.free = total − used − reserved − pinned − readonly − may_use
//
// A reserve's Size is what it aims to hold and Reserved what it holds now;
// Use takes from Reserved only. Running a reserve dry is what the seed's
// bug does: ErrRsvExhausted.

// ErrRsvExhausted reports a block reserve with less left than asked for. It
// matches syscall.ENOSPC, as the kernel's -ENOSPC from use_block_rsv.
var ErrRsvExhausted = fmt.Errorf("block reserve exhausted: %w", syscall.ENOSPC)

// BlockRsv is one block reserve. Its counters are guarded by the
// allocator's mutex.
type BlockRsv struct {
	a              *Allocator
	Name           string
	Type           uint64
	size, reserved uint64
}

// NewRsv returns an empty reserve of space type typ (METADATA for every
// tree reserve).
func (a *Allocator) NewRsv(name string, typ uint64) *BlockRsv {
	return &BlockRsv{a: a, Name: name, Type: typ}
}

// Info returns the reserve's size and reserved bytes.
func (r *BlockRsv) Info() (size, reserved uint64) {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	return r.size, r.reserved
}

// Add reserves bytes more into r, or fails with ErrNoSpace and changes
// nothing when the space_info cannot promise them: free space of the
// type's groups plus, for metadata and system, half the unallocated device
// space (the kernel's overcommit), for data all of it (a data chunk can
// always be allocated from it).
func (r *BlockRsv) Add(bytes uint64) error { return r.AddLeaving(bytes, 0) }

// AddLeaving is Add that leaves up to leave bytes of the unallocated
// device space out of its count (data reservations keep room for
// metadata chunks).
func (r *BlockRsv) AddLeaving(bytes, leave uint64) error {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	leave = min(leave, a.unallocatedLocked())
	if avail := a.availableLocked(r.Type); bytes+leave > avail {
		a.mu.stats.RsvFailures++
		return fmt.Errorf("reserve %d bytes of %s for %s (%d available, %d kept): %w",
			bytes, typeName(r.Type), r.Name, avail, leave, ErrNoSpace)
	}
	a.addLocked(r, bytes)
	return nil
}

// Fill reserves up to bytes into r, as much as fits, in whole nodes, and
// returns how much it got (the kernel fills the global reserve this way).
func (r *BlockRsv) Fill(bytes uint64) uint64 {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	ns := a.NodeSize()
	got := min(bytes, a.availableLocked(r.Type)) / ns * ns
	a.addLocked(r, got)
	return got
}

// addLocked puts bytes into r. REQUIRES: a.mu.
func (a *Allocator) addLocked(r *BlockRsv, bytes uint64) {
	a.mu.mayUse[r.Type] += bytes
	r.size += bytes
	r.reserved += bytes
}

// availableLocked is how many bytes of type typ a reserve may still take
// (Add's rule). REQUIRES: a.mu.
func (a *Allocator) availableLocked(typ uint64) uint64 {
	si := a.spaceLocked(typ)
	busy := si.Used + si.Reserved + si.Pinned + si.Readonly + si.MayUse
	limit := si.Total
	if unalloc := a.unallocatedLocked(); typ != format.BlockGroupData {
		limit += unalloc / 2
	} else {
		limit += unalloc
	}
	if busy >= limit {
		return 0
	}
	return limit - busy
}

// Use consumes bytes of r for an allocation. With less reserved than that
// it fails with ErrRsvExhausted and changes nothing.
func (r *BlockRsv) Use(bytes uint64) error {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.reserved < bytes {
		return fmt.Errorf("%s: %d bytes wanted, %d left of %d: %w", r.Name, bytes, r.reserved, r.size, ErrRsvExhausted)
	}
	r.reserved -= bytes
	a.mu.mayUse[r.Type] -= bytes
	return nil
}

// Migrate moves bytes of reservation from r to dst (as btrfs moves a
// handle's reservation into the delayed-items reserve); ErrRsvExhausted
// when r holds less.
func (r *BlockRsv) Migrate(dst *BlockRsv, bytes uint64) error {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Type != dst.Type {
		// may_use is kept per type: moving bytes across would corrupt it.
		return fmt.Errorf("%w: migrate %d bytes from %s (%s) to %s (%s)",
			ErrAccounting, bytes, r.Name, typeName(r.Type), dst.Name, typeName(dst.Type))
	}
	if r.reserved < bytes {
		return fmt.Errorf("migrate %d bytes from %s to %s: %d left of %d: %w",
			bytes, r.Name, dst.Name, r.reserved, r.size, ErrRsvExhausted)
	}
	r.reserved -= bytes
	r.size -= min(r.size, bytes)
	dst.reserved += bytes
	dst.size += bytes
	return nil
}

// Release returns what r still holds to the space_info and empties it; it
// returns the bytes released.
func (r *BlockRsv) Release() uint64 {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	n := r.reserved
	a.mu.mayUse[r.Type] -= n
	r.size, r.reserved = 0, 0
	return n
}

// ReleaseBytes returns up to bytes of what r holds to the space_info (a
// share of a reserve held for several owners) and returns the bytes
// released.
func (r *BlockRsv) ReleaseBytes(bytes uint64) uint64 {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	n := min(bytes, r.reserved)
	a.mu.mayUse[r.Type] -= n
	r.reserved -= n
	r.size -= min(r.size, n)
	return n
}

// Shrink returns what r holds above to bytes to the space_info (the
// delayed-refs reserve is trimmed to what the queued refs can need) and
// returns the bytes released.
func (r *BlockRsv) Shrink(to uint64) uint64 {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.reserved <= to {
		return 0
	}
	n := r.reserved - to
	a.mu.mayUse[r.Type] -= n
	r.reserved = to
	r.size = max(r.size-n, to)
	return n
}

// SpaceInfo is the kernel's per-type space summary, in bytes.
type SpaceInfo struct {
	Flags                                           uint64
	Total, Used, Pinned, Reserved, MayUse, Readonly uint64
}

// Free is total − used − pinned − reserved − may_use − readonly (0 when
// overcommitted), what the kernel's dump calls "has N free".
func (s SpaceInfo) Free() uint64 {
	busy := s.Used + s.Pinned + s.Reserved + s.MayUse + s.Readonly
	if busy > s.Total {
		return 0
	}
	return s.Total - busy
}

// Space returns the space_info of type typ.
func (a *Allocator) Space(typ uint64) SpaceInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.spaceLocked(typ)
}

func (a *Allocator) spaceLocked(typ uint64) SpaceInfo {
	si := SpaceInfo{Flags: typ, MayUse: a.mu.mayUse[typ]}
	for _, g := range a.mu.groups {
		if g.Type() != typ {
			continue
		}
		si.Total += g.Length
		si.Used += g.Used
		si.Pinned += g.Pinned
		si.Reserved += g.Reserved
		si.Readonly += g.Super
	}
	return si
}
