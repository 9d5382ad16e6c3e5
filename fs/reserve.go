package fs

import (
	"errors"
	"syscall"

	"cowfs/alloc"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// Delalloc reservations, as the kernel's btrfs_delalloc_reserve_space: a
// buffered Write is accepted only once the space its flush will need is
// promised, so a full filesystem fails the write(2), never the later
// flush (which would abort the transaction and lose the buffer).
//
// Two block reserves hold the promises of every inode: dataRsv (DATA
// space: the sectors each flush run writes, plus one for an inline extent
// converted to a regular one) and metaRsv (METADATA: what each run's
// handle reserves, 2 × InsertSize(WriteItems(run)+1), its own share and
// the delayed refs'). Each inode holds exactly need(buf) of them (rsv);
// a flush run starts its handle out of metaRsv (transaction.StartFrom)
// and returns the run's data share once its extents are allocated.
// Data reservations leave up to a tenth of the device unallocated for
// metadata chunks.

// need is what flushing some buffered ranges needs.
type need struct{ data, meta uint64 }

func (a need) plus(b need) need { return need{a.data + b.data, a.meta + b.meta} }
func (a need) minus(b need) need {
	return need{a.data - min(a.data, b.data), a.meta - min(a.meta, b.meta)}
}

// runNeed is what one flush run of n bytes at off needs.
func (fs *FS) runNeed(off uint64, n int) need {
	end := off + uint64(n)
	data := alignUp(end, fs.sectorSize) - alignDown(off, fs.sectorSize) + fs.sectorSize
	items := fs.data.WriteItems(n) + 1
	return need{data: data, meta: 2 * transaction.InsertSize(fs.nodeSize, items)}
}

// spanNeed is what flushing a buffered range [off, end) needs: runs of
// maxFlushRun bytes from its start, as flushLocked writes them.
func (fs *FS) spanNeed(off, end uint64) need {
	var total need
	for off < end {
		n := int(min(end-off, maxFlushRun))
		total = total.plus(fs.runNeed(off, n))
		off += uint64(n)
	}
	return total
}

func (fs *FS) rangesNeed(rs dirtyRanges) need {
	var total need
	for _, r := range rs {
		total = total.plus(fs.spanNeed(r.off, r.end()))
	}
	return total
}

// needAfterInsert is what in's buffer will need once [off, off+n) is
// inserted (merged as dirtyRanges.insert merges). REQUIRES: in.mu.
func (fs *FS) needAfterInsert(in *inode, off uint64, n int) need {
	end := off + uint64(n)
	i, j := in.buf.touching(off, end)
	if i == j {
		return in.rsv.plus(fs.spanNeed(off, end))
	}
	merged := fs.spanNeed(min(in.buf[i].off, off), max(in.buf[j-1].end(), end))
	return in.rsv.minus(fs.rangesNeed(in.buf[i:j])).plus(merged)
}

// dataLeave is the unallocated space a data reservation leaves free: a
// tenth of the device, for metadata chunks.
func (fs *FS) dataLeave() uint64 { return fs.t.Super().TotalBytes / 10 }

// reserveTo makes in hold want: it reserves what is missing (both kinds or
// neither) and returns what is over. ENOSPC when the space cannot be
// promised. REQUIRES: in.mu.
func (fs *FS) reserveTo(in *inode, want need) error {
	if want.data > in.rsv.data {
		if err := fs.dataRsv.AddLeaving(want.data-in.rsv.data, fs.dataLeave()); err != nil {
			return err
		}
	}
	if want.meta > in.rsv.meta {
		if err := fs.metaRsv.Add(want.meta - in.rsv.meta); err != nil {
			if want.data > in.rsv.data {
				fs.dataRsv.ReleaseBytes(want.data - in.rsv.data)
			}
			return err
		}
	}
	fs.releaseRsv(in, need{data: in.rsv.data - min(in.rsv.data, want.data), meta: in.rsv.meta - min(in.rsv.meta, want.meta)})
	in.rsv = want
	return nil
}

// releaseRsv returns part of in's share to the free space; the caller
// updates in.rsv.
func (fs *FS) releaseRsv(in *inode, part need) {
	if part.data > 0 {
		fs.dataRsv.ReleaseBytes(part.data)
	}
	if part.meta > 0 {
		fs.metaRsv.ReleaseBytes(part.meta)
	}
}

// dropRsv returns all of in's share. REQUIRES: in.mu.
func (fs *FS) dropRsv(in *inode) {
	fs.releaseRsv(in, in.rsv)
	in.rsv = need{}
}

// startRun starts the handle of a flush run of n bytes at off out of in's
// share of metaRsv; an inode holding less (its reservation failed to come
// back after an error) starts one of its own. REQUIRES: in.mu.
func (fs *FS) startRun(in *inode, off uint64, n int) (handle, error) {
	rn := fs.runNeed(off, n)
	items := fs.data.WriteItems(n) + 1
	if in.rsv.meta >= rn.meta {
		h, err := fs.t.StartFrom(items, fs.metaRsv)
		if err == nil {
			in.rsv.meta -= rn.meta
			return h, nil
		}
		if !errors.Is(err, alloc.ErrRsvExhausted) {
			return nil, err
		}
	}
	return fs.t.Start(items)
}

// ranDataRun gives back a written run's data share: its extents are
// allocated now. REQUIRES: in.mu.
func (fs *FS) ranDataRun(in *inode, off uint64, n int) {
	d := min(in.rsv.data, fs.runNeed(off, n).data)
	fs.dataRsv.ReleaseBytes(d)
	in.rsv.data -= d
}

// reserveData promises the data space of a run written at once (no
// buffer; its handle reserves its own metadata) or of a fallocate;
// release gives it back once the run is done. locked: the caller holds an
// inode lock (see withRoom).
func (fs *FS) reserveData(bytes uint64, locked bool) (release func(), err error) {
	err = fs.withRoom(locked, func() error { return fs.dataRsv.AddLeaving(bytes, fs.dataLeave()) })
	if err != nil {
		return nil, err
	}
	return func() { fs.dataRsv.ReleaseBytes(bytes) }, nil
}

// withRoom runs try, a reservation; out of space it makes room and tries
// again after each step, cheapest first: flush every buffer (their
// metadata shares come back), then commit (pinned extents come back).
// A caller holding an inode lock (locked) only commits: flushing would
// wait for its own lock. The allocator's refusals already match ENOSPC.
func (fs *FS) withRoom(locked bool, try func() error) error {
	steps := []func() error{func() error { return fs.flushAll(false) }, fs.t.Commit}
	if locked {
		steps = steps[1:]
	}
	err := try()
	for _, step := range steps {
		if !errors.Is(err, syscall.ENOSPC) {
			return err
		}
		if serr := step(); serr != nil {
			return serr
		}
		err = try()
	}
	return err
}

// setupRsv creates the delalloc reserves.
func (fs *FS) setupRsv() {
	a := fs.t.Alloc()
	fs.dataRsv = a.NewRsv("delalloc_data", format.BlockGroupData)
	fs.metaRsv = a.NewRsv("delalloc_meta", format.BlockGroupMetadata)
}
