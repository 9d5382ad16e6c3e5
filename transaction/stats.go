package transaction

import "sync/atomic"

type stats struct {
	commits, commitRounds, aborts atomic.Uint64
	handles, overspends           atomic.Uint64
	reserved, charged, overspent  atomic.Uint64
	maxChargeRatio                atomic.Uint64 // × 1000
	csumReserved, csumOwed        atomic.Uint64
	maxCsumOwed                   atomic.Uint64
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
	storeMax(&s.maxChargeRatio, hs.Charged*1000/hs.Reserved)
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
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
// as a worst case, did not hold (docs/problem.md).
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
	// CsumReserved is the bytes reserved for checksum deletions
	// (CsumDeleteSize per data extent that may lose its last reference),
	// CsumOwed the part of it free space could not promise, left to the
	// global reserve at the next commit (csum_rsv.go); MaxCsumOwed is the
	// most one commit found owed.
	CsumReserved, CsumOwed, MaxCsumOwed uint64

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
		MaxChargeRatio: float64(s.maxChargeRatio.Load()) / 1000,
		CsumReserved:   s.csumReserved.Load(), CsumOwed: s.csumOwed.Load(), MaxCsumOwed: s.maxCsumOwed.Load()}
	for i := range out.Flushes {
		out.Flushes[i] = s.flushes[i].Load()
	}
	return out
}
