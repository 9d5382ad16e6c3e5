package tests

// Xattr operations of the transaction workload: XATTR_ITEM (ino, 24, name
// hash), entries packed when names collide (the kernel's
// insert_with_overflow / delete_one_dir_name), values from empty to the
// largest the item can still take; each also touches the inode (ctime,
// transid, sequence) as setxattr does.

import (
	"fmt"
	"slices"

	"cowfs/disk/format"
)

// setXattr adds a new xattr to in.
func (w *txnWorker) setXattr(in *txnInode) error {
	name, used, err := w.newXattrName(in)
	if err != nil {
		return err
	}
	value := randomBytes(w.rng, w.valueSize(maxEntrySpace(w.nodesize, used)-len(name)))
	t := w.h.Transid()
	if err := w.addEntry(in.tree, xattrKey(in.ino, name), xattrEntry(t, name, value)); err != nil {
		return err
	}
	in.xattrs = append(in.xattrs, name)
	w.load.xattrBytes += format.DirEntryHeaderSize + len(name) + len(value)
	return w.updateInode(in.tree, in.ino, touch(t))
}

// newXattrName picks a name in has not, sometimes forged to collide with
// one it has; used is what the item at its hash already holds. A collision
// that would leave no room for a value is redrawn without one.
func (w *txnWorker) newXattrName(in *txnInode) (string, int, error) {
	others := in.xattrs
	for {
		name, err := newEntryName(w.rng, "user.", others, func(s string) bool { return slices.Contains(in.xattrs, s) })
		if err != nil {
			return "", 0, err
		}
		d, _ := w.m.get(in.tree, xattrKey(in.ino, name))
		if maxEntrySpace(w.nodesize, len(d))-len(name) >= 0 {
			return name, len(d), nil
		}
		others = nil
	}
}

// replaceXattr gives an xattr of in a new value: of the same size in
// place, or of another size by resizing its item (the kernel's atomic
// replace in btrfs_setxattr).
func (w *txnWorker) replaceXattr(in *txnInode) error {
	name := in.xattrs[w.rng.IntN(len(in.xattrs))]
	k := xattrKey(in.ino, name)
	es, err := w.entries(in.tree, k)
	if err != nil {
		return err
	}
	i := entryIndex(es, name)
	if i < 0 {
		return fmt.Errorf("%v: xattr %q not in its item %v", in, name, k)
	}
	old := es[i].Data
	t := w.h.Transid()
	if w.rng.IntN(2) == 0 {
		if err := w.setEntryData(in.tree, k, name, randomBytes(w.rng, len(old))); err != nil {
			return err
		}
		return w.updateInode(in.tree, in.ino, touch(t))
	}
	others := len(es.Encode()) - es[i].Size()
	value := randomBytes(w.rng, w.valueSize(maxEntrySpace(w.nodesize, others)-len(name)))
	if err := w.replaceEntry(in.tree, k, name, xattrEntry(t, name, value)); err != nil {
		return err
	}
	w.load.xattrBytes += len(value) - len(old)
	return w.updateInode(in.tree, in.ino, touch(t))
}

// removeXattr removes an xattr of in.
func (w *txnWorker) removeXattr(in *txnInode) error {
	i := w.rng.IntN(len(in.xattrs))
	name := in.xattrs[i]
	k := xattrKey(in.ino, name)
	es, err := w.entries(in.tree, k)
	if err != nil {
		return err
	}
	size := es[max(0, entryIndex(es, name))].Size()
	if err := w.removeEntry(in.tree, k, name); err != nil {
		return err
	}
	in.xattrs = slices.Delete(in.xattrs, i, i+1)
	w.load.xattrBytes -= size
	return w.updateInode(in.tree, in.ino, touch(w.h.Transid()))
}

// valueSize draws a value size up to max: valueSize's mix, or with
// bigValues mostly from max/2 to max.
func (w *txnWorker) valueSize(max int) int {
	if w.mix.bigValues && max > 0 && w.rng.IntN(4) > 0 {
		return max/2 + w.rng.IntN(max-max/2+1)
	}
	return valueSize(w.rng, max)
}
