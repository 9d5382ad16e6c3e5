package treelog

import (
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// Replay replays the log of an opened filesystem (transaction.Options
// ReplayLog): it keeps the log's blocks and the data extents its file
// extents point to from reuse, then replays each subvolume log in the
// kernel's passes. The caller commits; until then nothing is durable, so
// a replay cut short replays again from the same log.
func Replay(fs *transaction.FS) error {
	sb := fs.Super()
	l, err := Open(fs.Env(), &sb)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := pinBlocks(fs, l); err != nil {
		return err
	}
	rs, err := replayers(fs, l)
	if err != nil {
		return err
	}
	return replayAll(rs)
}

// replayAll takes every log's data extents first, then replays each log.
func replayAll(rs []*replayer) error {
	for _, r := range rs {
		if err := r.adoptData(); err != nil {
			return err
		}
	}
	for _, r := range rs {
		if err := r.run(); err != nil {
			return fmt.Errorf("subvolume %d: %w", r.id, err)
		}
	}
	return nil
}

func pinBlocks(fs *transaction.FS, l *Log) error {
	blocks, err := l.Blocks()
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if err := fs.PinLogBlock(b); err != nil {
			return fmt.Errorf("log block %d: %w", b, err)
		}
	}
	return nil
}

// checkUnshared refuses a subvolume that is a snapshot or was snapshotted
// (last_snapshot set in its ROOT_ITEM): its tree blocks may be shared, and
// cowfs does not yet update the references of a shared block it COWs.
func checkUnshared(fs *transaction.FS, id uint64) error {
	root, err := fs.Tree(format.RootTreeObjectID)
	if err != nil {
		return err
	}
	items, err := scan(root, id, format.RootItemKey)
	if err != nil {
		return fmt.Errorf("root item of subvolume %d: %w", id, err)
	}
	if len(items) == 0 {
		return fmt.Errorf("%w: the log names subvolume %d, which has no root item", format.ErrCorrupt, id)
	}
	ri, err := format.DecodeRootItem(items[0].Data)
	if err != nil {
		return fmt.Errorf("root item of subvolume %d: %w", id, err)
	}
	if ri.LastSnapshot != 0 {
		return fmt.Errorf("%w: the log holds changes to subvolume %d, which shares tree blocks with a snapshot (last_snapshot %d), and cowfs does not COW shared blocks: let the kernel replay it (mount it once), or cowfs zero-log",
			transaction.ErrUnsupported, id, ri.LastSnapshot)
	}
	return nil
}

// replayer replays one subvolume log.
type replayer struct {
	fs      *transaction.FS
	id      uint64
	log     *ctree.Root
	sub     *ctree.Root
	items   []ctree.Item // the log's items, in key order
	byKind  map[kind][]ctree.Item
	touched map[uint64]bool // inodes whose links, size and nbytes are fixed at the end
}

func replayers(fs *transaction.FS, l *Log) ([]*replayer, error) {
	var out []*replayer
	for _, s := range l.Subvols {
		r, err := newReplayer(fs, s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// newReplayer reads the subvolume log s whole (logs are small) and finds
// its subvolume, which must not share blocks.
func newReplayer(fs *transaction.FS, s Subvol) (*replayer, error) {
	sub, err := fs.Tree(s.ID)
	if err != nil {
		return nil, fmt.Errorf("log of subvolume %d: %w", s.ID, err)
	}
	if err := checkUnshared(fs, s.ID); err != nil {
		return nil, err
	}
	r := &replayer{fs: fs, id: s.ID, log: s.Tree, sub: sub, touched: map[uint64]bool{}, byKind: map[kind][]ctree.Item{}}
	it := s.Tree.ScanFrom(format.Key{})
	for it.Next() {
		item := it.Item()
		r.items = append(r.items, item)
		k := kind{item.Key.ObjectID, item.Key.Type}
		r.byKind[k] = append(r.byKind[k], item)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("log tree of subvolume %d: %w", s.ID, err)
	}
	return r, nil
}

// run replays in the kernel's order: inode items (with the deletions
// their directories' logged ranges and their xattrs imply), then
// directory index entries, then everything else; then link counts, sizes
// and nbytes of every inode touched.
func (r *replayer) run() error {
	passes := []func(ctree.Item) error{r.replayInode, r.replayDirIndex, r.replayOther}
	for _, pass := range passes {
		for _, it := range r.items {
			if err := pass(it); err != nil {
				return fmt.Errorf("log item %v: %w", it.Key, err)
			}
		}
	}
	return r.fixup()
}

// replayOther is the last pass: names, xattrs and file extents. Items of
// the earlier passes and the log's checksums (read by replayExtent) are
// skipped; an item kind cowfs does not replay fails the replay.
func (r *replayer) replayOther(it ctree.Item) error {
	switch it.Key.Type {
	case format.InodeItemKey, format.DirIndexKey, format.DirLogIndexKey, format.ExtentCsumKey:
		return nil
	case format.InodeRefKey, format.InodeExtrefKey:
		return r.replayRefs(it)
	case format.XattrItemKey:
		return r.edit(func(h *transaction.Handle) error { return r.put(h, it.Key, it.Data) })
	case format.ExtentDataKey:
		return r.replayExtent(it)
	}
	return fmt.Errorf("%w: replay of log items of type %d", transaction.ErrUnsupported, it.Key.Type)
}

// kind is an objectid and an item type.
type kind struct {
	obj uint64
	typ uint8
}

// logItems lists the log's items of one objectid and type.
func (r *replayer) logItems(obj uint64, typ uint8) []ctree.Item { return r.byKind[kind{obj, typ}] }
