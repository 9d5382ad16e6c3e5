package treelog

import (
	"errors"
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// adoptData takes the data extents the log's file extents point to that
// the extent tree does not hold (the kernel's
// btrfs_alloc_logged_file_extent), before anything is allocated.
func (r *replayer) adoptData() error {
	extent, err := r.fs.Tree(format.ExtentTreeObjectID)
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	return r.edit(func(h *transaction.Handle) error {
		for _, it := range r.items {
			if err := adoptOne(h, extent, it, seen); err != nil {
				return fmt.Errorf("log item %v: %w", it.Key, err)
			}
		}
		return nil
	})
}

func adoptOne(h *transaction.Handle, extent *ctree.Root, it ctree.Item, seen map[uint64]bool) error {
	fe, ok, err := diskExtent(it)
	if !ok || err != nil || seen[fe.DiskBytenr] {
		return err
	}
	seen[fe.DiskBytenr] = true
	_, err = ctree.Lookup(extent, format.Key{ObjectID: fe.DiskBytenr, Type: format.ExtentItemKey, Offset: fe.DiskNumBytes})
	if !errors.Is(err, ctree.ErrNotFound) {
		return err // held already (or unreadable)
	}
	return h.AdoptLoggedData(fe.DiskBytenr, fe.DiskNumBytes)
}

// diskExtent decodes a file extent item pointing to a data extent.
func diskExtent(it ctree.Item) (*format.FileExtent, bool, error) {
	if it.Key.Type != format.ExtentDataKey {
		return nil, false, nil
	}
	fe, err := format.DecodeFileExtent(it.Data)
	if err != nil {
		return nil, false, err
	}
	return fe, fe.Type != format.FileExtentInline && fe.DiskBytenr != 0, nil
}

// replayExtent is replay_one_extent: the file range the item covers is
// dropped from the subvolume, the item inserted (a hole only without
// NO_HOLES), its data extent referenced and its checksums copied from the
// log into the checksum tree.
func (r *replayer) replayExtent(it ctree.Item) error {
	fe, err := format.DecodeFileExtent(it.Data)
	if err != nil {
		return err
	}
	ino, start := it.Key.ObjectID, it.Key.Offset
	if err := r.dropExtents(ino, start, start+r.span(fe)); err != nil {
		return err
	}
	r.touched[ino] = true
	hole := fe.Type != format.FileExtentInline && fe.DiskBytenr == 0
	if hole && r.fs.Super().IncompatFlags&format.IncompatNoHoles != 0 {
		return nil
	}
	return r.edit(func(h *transaction.Handle) error {
		if err := ctree.InsertItem(h, r.sub, it.Key, it.Data); err != nil {
			return err
		}
		if fe.Type == format.FileExtentInline || hole {
			return nil
		}
		h.AddDataRef(fe.DiskBytenr, fe.DiskNumBytes, r.id, ino, start-fe.Offset, 1)
		return r.copyCsums(h, fe)
	})
}

// span is the file range a file extent covers (an inline one: its
// sector).
func (r *replayer) span(fe *format.FileExtent) uint64 {
	if fe.Type != format.FileExtentInline {
		return fe.NumBytes
	}
	ss := uint64(r.fs.SectorSize())
	return (fe.RAMBytes + ss - 1) / ss * ss
}

// copyCsums replaces the checksum tree's sums of the extent's logged range
// with the log's; a range the log has no sums for (nodatasum, prealloc)
// is left alone.
func (r *replayer) copyCsums(h *transaction.Handle, fe *format.FileExtent) error {
	if fe.Type == format.FileExtentPrealloc {
		return nil
	}
	start, length := fe.DiskBytenr+fe.Offset, fe.NumBytes
	if fe.Compression != format.CompressNone {
		start, length = fe.DiskBytenr, fe.DiskNumBytes
	}
	sums, err := r.fs.LookupCsumsIn(r.log, start, length)
	if errors.Is(err, transaction.ErrNoCsum) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := h.DeleteCsums(start, length); err != nil {
		return err
	}
	return h.InsertCsums(start, sums)
}

// dropExtents removes the file extents of ino inside [start, end),
// trimming or splitting those that cross its ends, as btrfs_drop_extents.
func (r *replayer) dropExtents(ino, start, end uint64) error {
	items, err := scan(r.sub, ino, format.ExtentDataKey)
	if err != nil {
		return err
	}
	for _, it := range items {
		fe, err := format.DecodeFileExtent(it.Data)
		if err != nil {
			return fmt.Errorf("subvolume %d: %v: %w", r.id, it.Key, err)
		}
		from, to := it.Key.Offset, it.Key.Offset+r.span(fe)
		if to <= start || from >= end {
			continue
		}
		if err := r.edit(func(h *transaction.Handle) error { return r.cut(h, it.Key, fe, start, end) }); err != nil {
			return err
		}
	}
	return nil
}

// cut removes [start, end) from one file extent item that overlaps it:
// the pieces before start and after end stay, the one after end with its
// own item (and, when both stay, its own reference to the data extent).
func (r *replayer) cut(h *transaction.Handle, k format.Key, fe *format.FileExtent, start, end uint64) error {
	from, to := k.Offset, k.Offset+r.span(fe)
	if fe.Type == format.FileExtentInline && (from < start || to > end) {
		return fmt.Errorf("%w: a logged extent cuts inline extent %v of subvolume %d", transaction.ErrUnsupported, k, r.id)
	}
	if err := r.del(h, k); err != nil {
		return err
	}
	kept := 0
	for _, p := range pieces(k, fe, start, end, to) {
		if err := ctree.InsertItem(h, r.sub, p.key, p.fe.Encode()); err != nil {
			return err
		}
		kept++
	}
	if fe.DiskBytenr != 0 && fe.Type != format.FileExtentInline && kept != 1 {
		h.AddDataRef(fe.DiskBytenr, fe.DiskNumBytes, r.id, k.ObjectID, k.Offset-fe.Offset, int64(kept-1))
	}
	return nil
}

// piece is what stays of a cut file extent item.
type piece struct {
	key format.Key
	fe  format.FileExtent
}

// pieces are the parts of the item (k, fe), covering [k.Offset, to), left
// outside [start, end).
func pieces(k format.Key, fe *format.FileExtent, start, end, to uint64) []piece {
	var out []piece
	if k.Offset < start {
		head := *fe
		head.NumBytes = start - k.Offset
		out = append(out, piece{k, head})
	}
	if to > end {
		tail := *fe
		tail.Offset += end - k.Offset
		tail.NumBytes = to - end
		out = append(out, piece{format.Key{ObjectID: k.ObjectID, Type: k.Type, Offset: end}, tail})
	}
	return out
}
