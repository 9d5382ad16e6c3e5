package transaction

import "sync/atomic"

type stats struct {
	commits, commitRounds, aborts atomic.Uint64
	handles, overspends           atomic.Uint64
	reserved, charged, overspent  atomic.Uint64
	maxChargeRatio                atomic.Uint64 // × 1000
	flushes                       [NumFlushStates]atomic.Uint64
}

// record adds an ended handle's figures.
func (s *stats) record(h *Handle) {
	if h.kind != userHandle {
		return
	}
	hs := h.Stats()
	s.reserved.Add(hs.Reserved)
	s.charged.Add(hs.Charged)
	s.overspent.Add(hs.Overspent)
	if hs.Reserved == 0 {
		return
	}
	r := hs.Charged * 1000 / hs.Reserved
	for {
		old := s.maxChargeRatio.Load()
		if r <= old || s.maxChargeRatio.CompareAndSwap(old, r) {
			return
		}
	}
}

// Stats are the transaction layer's figures since Open.
//
//	charge ratio = Charged / Reserved   (bytes charged for COWs and new
//	                                     blocks per byte reserved at Start)
//
// A ratio above 1 for one handle is an overspend: the reservation, meant
// as a worst case, did not hold (THREAD.md).
type Stats struct {
	Commits      uint64
	CommitRounds uint64 // fixed-point rounds over all commits
	Aborts       uint64
	Handles      uint64 // handles started (Start and Join)
	Overspends   uint64 // charges or migrations past a dry reserve
	// Reserved, Charged and Overspent sum over ended user handles.
	Reserved, Charged, Overspent uint64
	// MaxChargeRatio is the largest Charged/Reserved of one handle.
	MaxChargeRatio float64
	// Flushes counts the flush states Start ran to make room, by state,
	// those that did something only: Flushes[FlushCommit] is the commits
	// forced by reservations.
	Flushes [NumFlushStates]uint64
}

// Stats returns a snapshot of the figures.
func (fs *FS) Stats() Stats {
	s := &fs.stats
	out := Stats{Commits: s.commits.Load(), CommitRounds: s.commitRounds.Load(), Aborts: s.aborts.Load(),
		Handles: s.handles.Load(), Overspends: s.overspends.Load(), Reserved: s.reserved.Load(),
		Charged: s.charged.Load(), Overspent: s.overspent.Load(),
		MaxChargeRatio: float64(s.maxChargeRatio.Load()) / 1000}
	for i := range out.Flushes {
		out.Flushes[i] = s.flushes[i].Load()
	}
	return out
}
