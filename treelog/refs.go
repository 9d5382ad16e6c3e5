package treelog

import (
	"bytes"
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// refsOf decodes INODE_REF and INODE_EXTREF items into links.
func refsOf(items []ctree.Item) ([]name, error) {
	var out []name
	for _, it := range items {
		ino := it.Key.ObjectID
		switch it.Key.Type {
		case format.InodeRefKey:
			refs, err := format.DecodeInodeRefs(it.Data)
			if err != nil {
				return nil, fmt.Errorf("%v: %w", it.Key, err)
			}
			for _, x := range refs {
				out = append(out, name{dir: it.Key.Offset, ino: ino, idx: x.Index, name: x.Name})
			}
		case format.InodeExtrefKey:
			refs, err := format.DecodeInodeExtrefs(it.Data)
			if err != nil {
				return nil, fmt.Errorf("%v: %w", it.Key, err)
			}
			for _, x := range refs {
				out = append(out, name{dir: x.Parent, ino: ino, idx: x.Index, name: x.Name})
			}
		}
	}
	return out, nil
}

// subRefs lists the subvolume's links to ino.
func (r *replayer) subRefs(ino uint64) ([]name, error) {
	refs, err := scan(r.sub, ino, format.InodeRefKey)
	if err != nil {
		return nil, err
	}
	ext, err := scan(r.sub, ino, format.InodeExtrefKey)
	if err != nil {
		return nil, err
	}
	return refsOf(append(refs, ext...))
}

func hasLink(links []name, n name) bool {
	for _, x := range links {
		if x.dir == n.dir && bytes.Equal(x.name, n.name) {
			return true
		}
	}
	return false
}

// replayDirDeletes: inside each index range that a DIR_LOG_INDEX item of
// dir declares logged, a name of the subvolume that the log does not hold
// was removed before the fsync, and goes.
func (r *replayer) replayDirDeletes(dir uint64) error {
	for _, rng := range r.logItems(dir, format.DirLogIndexKey) {
		dl, err := format.DecodeDirLogItem(rng.Data)
		if err != nil {
			return fmt.Errorf("%v: %w", rng.Key, err)
		}
		have, err := scanFrom(r.sub, format.Key{ObjectID: dir, Type: format.DirIndexKey, Offset: rng.Key.Offset})
		if err != nil {
			return err
		}
		for _, it := range have {
			if it.Key.Offset > dl.End {
				break
			}
			if err := r.dropUnlogged(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropUnlogged removes the link of the subvolume's DIR_INDEX it unless
// the log holds the same entry.
func (r *replayer) dropUnlogged(it ctree.Item) error {
	e, err := oneEntry(it)
	if err != nil {
		return err
	}
	if logged, ok := r.logItem(it.Key); ok {
		le, err := oneEntry(logged)
		if err == nil && bytes.Equal(le.Name, e.Name) && le.Location == e.Location {
			return nil
		}
	}
	if e.Location.Type != format.InodeItemKey {
		return fmt.Errorf("%w: a subvolume link (%v) in a logged range", transaction.ErrUnsupported, e.Location)
	}
	return r.removeName(name{dir: it.Key.ObjectID, ino: e.Location.ObjectID, idx: it.Key.Offset, name: e.Name})
}

// replayDirIndex is the second pass: a logged DIR_INDEX names an inode the
// first pass wrote; a different link in its place, or its name linked
// elsewhere in the directory, goes first.
func (r *replayer) replayDirIndex(it ctree.Item) error {
	if it.Key.Type != format.DirIndexKey {
		return nil
	}
	e, err := oneEntry(it)
	if err != nil {
		return err
	}
	if e.Location.Type != format.InodeItemKey {
		return fmt.Errorf("%w: replay of a logged subvolume link (%v)", transaction.ErrUnsupported, e.Location)
	}
	n := name{dir: it.Key.ObjectID, ino: e.Location.ObjectID, idx: it.Key.Offset, name: e.Name, ftype: e.Type}
	if _, ok, err := r.readInode(n.ino); !ok || err != nil {
		return err // not logged: the kernel leaves the name to the inode's own refs
	}
	return r.ensureLink(n)
}

// ensureLink makes n a link of the subvolume, removing the links that
// stand in its way: another entry at its index, its name to another inode
// or at another index.
func (r *replayer) ensureLink(n name) error {
	if d, ok, err := r.lookup(format.Key{ObjectID: n.dir, Type: format.DirIndexKey, Offset: n.idx}); err != nil {
		return err
	} else if ok {
		e, err := oneEntry(ctree.Item{Data: d})
		if err != nil {
			return err
		}
		if bytes.Equal(e.Name, n.name) && e.Location.ObjectID == n.ino {
			return nil
		}
		if err := r.removeName(name{dir: n.dir, ino: e.Location.ObjectID, idx: n.idx, name: e.Name}); err != nil {
			return err
		}
	}
	old, ok, err := r.linkOf(n.dir, n.name)
	if err != nil {
		return err
	}
	if ok {
		if err := r.removeName(old); err != nil {
			return err
		}
	}
	return r.addName(n)
}

// replayRefs is the last pass for an inode's reference item: the names
// the subvolume's item of the same key holds and the log's does not go
// (a rename inside that directory; the kernel's unlink_old_inode_refs),
// then each logged name is made a link.
func (r *replayer) replayRefs(it ctree.Item) error {
	in, ok, err := r.readInode(it.Key.ObjectID)
	if !ok || err != nil {
		return err
	}
	mine, err := refsOf([]ctree.Item{it})
	if err != nil {
		return err
	}
	if err := r.dropStaleRefs(it.Key, mine); err != nil {
		return err
	}
	for _, n := range mine {
		if n.dir == n.ino {
			continue // a subvolume root's ".." reference: no directory entry
		}
		if _, ok, err := r.readInode(n.dir); !ok || err != nil {
			return err // the kernel skips a name whose directory does not exist
		}
		n.ftype = format.FileTypeOf(in.Mode)
		if err := r.ensureLink(n); err != nil {
			return err
		}
	}
	return nil
}

// dropStaleRefs removes the links of the subvolume's reference item k
// that logged does not hold.
func (r *replayer) dropStaleRefs(k format.Key, logged []name) error {
	d, ok, err := r.lookup(k)
	if !ok || err != nil {
		return err
	}
	have, err := refsOf([]ctree.Item{{Key: k, Data: d}})
	if err != nil {
		return err
	}
	for _, n := range have {
		if n.dir == n.ino || hasLink(logged, n) {
			continue
		}
		if err := r.removeName(n); err != nil {
			return err
		}
	}
	return nil
}

// logItem finds the log's item with key k.
func (r *replayer) logItem(k format.Key) (ctree.Item, bool) {
	for _, it := range r.logItems(k.ObjectID, k.Type) {
		if it.Key == k {
			return it, true
		}
	}
	return ctree.Item{}, false
}

func oneEntry(it ctree.Item) (format.DirEntry, error) {
	es, err := format.DecodeDirItem(it.Data)
	if err != nil || len(es) != 1 {
		return format.DirEntry{}, fmt.Errorf("%w: %v: a DIR_INDEX with %d entries (%v)", format.ErrCorrupt, it.Key, len(es), err)
	}
	return es[0], nil
}
