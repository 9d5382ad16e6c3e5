package tests

// Opening, closing and reopening the workload's image: the close commits,
// the oracles check the image, and the reopened filesystem must hold
// exactly the model's items.

import (
	"fmt"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

func (w *txnWorkload) openFS() {
	fs, err := transaction.OpenFile(w.path, w.options())
	require.NoError(w.t, err, "open (seed %d)", w.seed)
	w.fs, w.main.fs = fs, fs
	w.commits = 0
	w.handlesAtOpen, w.rsvAtOpen = w.main.handles, w.main.reserved
}

// closeFS closes the filesystem (its last commit included) and adds the
// figures of this open to the totals.
func (w *txnWorkload) closeFS() {
	roots := w.totals.levels(w.fs)
	require.NoError(w.t, w.fs.Close(), "close (seed %d)", w.seed)
	w.totals.addOpen(w.fs, roots)
	w.fs, w.main.fs = nil, nil
}

// reopenChecked closes, runs the oracles, reopens and compares.
func (w *txnWorkload) reopenChecked() {
	w.closeFS()
	w.oracles()
	w.openFS()
	w.compareModel()
}

// loadInitial puts the fresh image's fs tree and root refs into the model
// and its root directory into the namespace.
func (w *txnWorkload) loadInitial() {
	t := w.t
	r5, err := w.fs.Tree(format.FSTreeObjectID)
	require.NoError(t, err)
	require.NoError(t, w.m.scanInto(r5, allKeys))
	rt, err := w.fs.Tree(format.RootTreeObjectID)
	require.NoError(t, err)
	w.m.ensure(format.RootTreeObjectID)
	require.NoError(t, w.m.scanInto(rt, ownRootTreeKey))
	root := &txnInode{tree: format.FSTreeObjectID, ino: format.FirstFreeObjectID, dir: newTxnDir("")}
	w.ns.addDir(root)
	w.ns.nextIno[format.FSTreeObjectID] = maxInode(w.m.items(format.FSTreeObjectID)) + 1
}

// maxInode is the largest inode number among items.
func maxInode(items map[format.Key][]byte) uint64 {
	top := format.FirstFreeObjectID
	for k := range items {
		if k.ObjectID <= format.LastFreeObjectID {
			top = max(top, k.ObjectID)
		}
	}
	return top
}

// compareModel requires every modelled tree to hold exactly the model's
// items, and every subvolume to have its ROOT_ITEM.
func (w *txnWorkload) compareModel() {
	t := w.t
	for _, id := range w.m.treeIDs() {
		own := allKeys
		if id == format.RootTreeObjectID {
			own = ownRootTreeKey
		}
		r, err := w.fs.Tree(id)
		require.NoError(t, err, "tree %d (seed %d)", id, w.seed)
		diffs, err := diffTree(r, w.m.items(id), own)
		require.NoError(t, err, "scan tree %d (seed %d)", id, w.seed)
		require.Empty(t, diffs, "reopened image differs from the model (seed %d)", w.seed)
	}
	for _, id := range w.ns.subvols {
		w.checkRootItem(id)
	}
	w.totals.compares++
}

// checkRootItem requires subvolume id's ROOT_ITEM to point at its open
// root, with root_dirid 256 and one reference.
func (w *txnWorkload) checkRootItem(id uint64) {
	rt, err := w.fs.Tree(format.RootTreeObjectID)
	require.NoError(w.t, err)
	b, err := ctree.Lookup(rt, format.Key{ObjectID: id, Type: format.RootItemKey})
	require.NoError(w.t, err, "ROOT_ITEM of subvolume %d (seed %d)", id, w.seed)
	ri, err := format.DecodeRootItem(b)
	require.NoError(w.t, err)
	r, err := w.fs.Tree(id)
	require.NoError(w.t, err)
	bytenr, level, gen := r.Info()
	got := fmt.Sprintf("dirid %d refs %d root %d level %d gen %d", ri.RootDirID, ri.Refs, ri.Bytenr, ri.Level, ri.Generation)
	want := fmt.Sprintf("dirid 256 refs 1 root %d level %d gen %d", bytenr, level, gen)
	require.Equal(w.t, want, got, "ROOT_ITEM of subvolume %d (seed %d)", id, w.seed)
}
