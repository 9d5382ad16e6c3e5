package treelog

import (
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// Log is an opened log: the log root tree and one tree per subvolume log.
type Log struct {
	Root    *ctree.Root
	Subvols []Subvol
}

// Subvol is the log tree of one subvolume.
type Subvol struct {
	ID   uint64 // the subvolume's tree id
	Tree *ctree.Root
}

// Open opens the log that sb points to (sb.LogRoot must be set). Its root
// block must be owned by TREE_LOG and carry generation sb.Generation + 1,
// as the kernel reads it.
func Open(env *ctree.Env, sb *format.Super) (*Log, error) {
	root, err := ctree.OpenRoot(env, format.TreeLogObjectID, sb.LogRoot, int(sb.LogRootLevel), sb.Generation+1)
	if err != nil {
		return nil, fmt.Errorf("log root tree at %d: %w", sb.LogRoot, err)
	}
	l := &Log{Root: root}
	if err := l.openSubvols(env); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) openSubvols(env *ctree.Env) error {
	it := l.Root.ScanFrom(format.Key{})
	for it.Next() {
		item := it.Item()
		if item.Key.ObjectID != format.TreeLogObjectID || item.Key.Type != format.RootItemKey {
			return fmt.Errorf("%w: log root tree: unexpected item %v", format.ErrCorrupt, item.Key)
		}
		ri, err := format.DecodeRootItem(item.Data)
		if err != nil {
			return fmt.Errorf("log root tree: %v: %w", item.Key, err)
		}
		t, err := ctree.OpenRoot(env, format.TreeLogObjectID, ri.Bytenr, int(ri.Level), ri.Generation)
		if err != nil {
			return fmt.Errorf("log tree of subvolume %d at %d: %w", item.Key.Offset, ri.Bytenr, err)
		}
		l.Subvols = append(l.Subvols, Subvol{ID: item.Key.Offset, Tree: t})
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("log root tree: %w", err)
	}
	return nil
}

// Close releases the log's trees.
func (l *Log) Close() {
	for _, s := range l.Subvols {
		s.Tree.Close()
	}
	l.Root.Close()
}
