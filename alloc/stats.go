package alloc

// Stats are the allocator's counters since it was created.
type Stats struct {
	Allocs        uint64 // extents allocated (tree blocks and data)
	AllocFailures uint64 // allocations with no room in any group of the type
	Chunks        uint64 // chunks created
	PinnedBytes   uint64 // bytes ever pinned
	RsvFailures   uint64 // reservations refused (ENOSPC at reserve time)
}

// Stats returns a snapshot of the counters.
func (a *Allocator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.stats
}
