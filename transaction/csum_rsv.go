package transaction

// Reserving checksum deletions.
//
// The checksums of a data extent are deleted when its last reference goes
// (the commit's fixed point: dropFreedCsums), which COWs the csum-tree
// leaves holding them: 259 leaves of 16 KiB for a 2 GiB file. That work
// is reserved by the handle that queues the reference drop, as the
// kernel's delayed refs do: add_delayed_ref_head and
// update_existing_head_ref count btrfs_csum_bytes_to_leaves of a data head
// whose total_ref_mod turns negative, btrfs_update_delayed_refs_rsv grows
// delayed_refs_rsv by btrfs_calc_delayed_ref_csum_bytes of them, and
// btrfs_delayed_refs_rsv_refill reserves them (NO_FLUSH).
//
//   - A data extent may lose its checksums when its queued net reference
//     change turns negative or, for an extent the running transaction
//     allocated (no extent item yet: its sums are deleted at commit when
//     it ends up unreferenced), when a drop cancels its last reference.
//     (An extent allocated and never referenced has sums only when a write
//     failed half-way, which aborts the transaction.)
//   - Its CsumDeleteSize is then reserved into the delayed-refs reserve
//     (csumRsv) from free space, without flushing. When the space cannot
//     be promised (a full filesystem) the deletion is owed (csumOwed) and
//     falls to the global reserve at the next commit, which Start runs
//     before it lets another handle begin (commitOwed), as the kernel ends
//     a handle and commits once the delayed-refs reserve owes what the
//     global reserve holds (btrfs_check_space_for_delayed_refs).
//   - A later reference that takes the extent back (net no longer
//     negative) returns its share.
//   - The commit's handle charges delayed_refs_rsv before global_block_rsv,
//     and the commit releases both shares.
//
// A commit therefore deletes only checksums some handle reserved for, or
// at most what the handles running since the last Start owe. Callers that
// free many extents (truncate, evict, punch) work in steps, a handle each,
// so that no handle owes much (docs/fs.md).

import (
	"cowfs/alloc"
	"cowfs/disk/format"
)

// CsumDeleteSize is what deleting the checksums of a data extent of
// numBytes reserves: btrfs_calc_delayed_ref_csum_bytes of
// btrfs_csum_bytes_to_leaves, a path of MAX_LEVEL nodes per leaf of sums
// (MaxItemSize / csum size sums per leaf).
func (fs *FS) CsumDeleteSize(numBytes uint64) uint64 {
	ctx := fs.env.Ctx
	perLeaf := uint64(format.MaxItemSize(ctx.NodeSize)) / uint64(ctx.CsumType.Size())
	leaves := (numBytes/uint64(ctx.SectorSize) + perLeaf - 1) / perLeaf
	return leaves * uint64(ctx.NodeSize) * format.MaxLevel
}

// csumShare is what one data extent holds for the deletion of its
// checksums: bytes reserved, or owed when the space could not be promised.
type csumShare struct {
	bytes uint64
	owed  bool
}

// mayFreeCsums reports whether a data extent whose queued net change is
// net, after a change of delta, may lose its checksums at commit.
func mayFreeCsums(net, delta int64, fresh bool) bool {
	return net < 0 || (fresh && net == 0 && delta < 0)
}

// addDataRef queues m, a data reference change, and reserves or returns
// the checksum deletion of its extent. The queueing and the decision are
// one step under t.mu, so that concurrent handles changing one extent's
// references agree on whether its deletion is reserved.
func (h *Handle) addDataRef(m alloc.RefMod) {
	t := h.t
	t.mu.Lock()
	net := h.fs.refs.Add(m)
	f, fresh := t.mu.fresh[m.Bytenr]
	share, had := t.mu.csumRsv[m.Bytenr]
	want := mayFreeCsums(net, m.Delta, fresh && f.data)
	switch {
	case want && !had:
		share = h.fs.reserveCsums(m.NumBytes)
		t.mu.csumRsv[m.Bytenr] = share
	case !want && had:
		delete(t.mu.csumRsv, m.Bytenr)
		h.fs.returnCsums(share)
	}
	t.mu.Unlock()
}

// reserveCsums reserves the checksum deletion of a data extent of
// numBytes, or owes it.
func (fs *FS) reserveCsums(numBytes uint64) csumShare {
	s := csumShare{bytes: fs.CsumDeleteSize(numBytes)}
	fs.stats.csumReserved.Add(s.bytes)
	if s.owed = fs.delayedRefs.Add(s.bytes) != nil; s.owed {
		fs.stats.csumOwed.Add(s.bytes)
		fs.csumOwed.Add(s.bytes)
	} else {
		fs.csumRsv.Add(s.bytes)
	}
	return s
}

// returnCsums gives a share back: an owed one is forgiven, a reserved one
// leaves the reserve with the next trim (trimDelayedRefsRsv).
func (fs *FS) returnCsums(s csumShare) {
	if s.owed {
		fs.csumOwed.Add(-s.bytes)
	} else {
		fs.csumRsv.Add(-s.bytes)
	}
}

// commitOwed commits when checksum deletions are owed, before a new
// handle may queue more (Start).
func (fs *FS) commitOwed() error {
	if fs.csumOwed.Load() == 0 {
		return nil
	}
	return fs.Commit()
}
