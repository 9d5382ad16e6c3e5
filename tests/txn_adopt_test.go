package tests

// After a kernel round trip, the model adopts what the kernel wrote into
// tree 5: files and a directory in the root directory (their inodes,
// names and any item of theirs, such as the extents) and the root
// directory's updated inode. Any other difference fails the run. The
// workload then works on the kernel's small file and directory too.

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

// adoptKernel compares tree 5 with the model, accepts the kernel's
// changes and records them.
func (w *txnWorkload) adoptKernel(kn kernelNames) {
	want := w.m.items(format.FSTreeObjectID)
	owned := map[uint64]bool{}
	for k := range want {
		owned[k.ObjectID] = true
	}
	newInos := map[uint64]bool{}
	r5, err := w.fs.Tree(format.FSTreeObjectID)
	require.NoError(w.t, err)
	it := r5.ScanFrom(format.Key{})
	for it.Next() {
		item := it.Item()
		if d, ok := want[item.Key]; ok && bytes.Equal(d, item.Data) {
			continue
		}
		if !owned[item.Key.ObjectID] && item.Key.ObjectID <= format.LastFreeObjectID {
			newInos[item.Key.ObjectID] = true
		} else {
			require.NoError(w.t, w.kernelChange(item.Key, item.Data, kn), "seed %d", w.seed)
		}
		w.m.set(format.FSTreeObjectID, item.Key, item.Data)
	}
	require.NoError(w.t, it.Err())
	got := w.adoptNames(kn)
	require.Equal(w.t, got, newInos, "inodes the kernel made, by their names (seed %d)", w.seed)
}

// kernelChange accepts a change the kernel made to an item of an inode
// the model has: the root directory's inode, and its entries for kn.
func (w *txnWorkload) kernelChange(k format.Key, data []byte, kn kernelNames) error {
	root := format.FirstFreeObjectID
	switch {
	case k == inodeKey(root):
		old, _ := w.m.get(format.FSTreeObjectID, k)
		was, err1 := format.DecodeInodeItem(old)
		now, err2 := format.DecodeInodeItem(data)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if grow := kn.nameBytes(); now.Size != was.Size+grow || now.Nlink != 1 {
			return fmt.Errorf("kernel: root dir size %d → %d (want +%d), nlink %d", was.Size, now.Size, grow, now.Nlink)
		}
		return nil
	case k.ObjectID == root && (k.Type == format.DirItemKey || k.Type == format.DirIndexKey):
		es, err := format.DecodeDirItem(data)
		if err != nil || len(es) != 1 || !kn.has(string(es[0].Name)) {
			return fmt.Errorf("kernel: unexpected entry %v: %v %v", k, es, err)
		}
		return nil
	}
	old, _ := w.m.get(format.FSTreeObjectID, k)
	return fmt.Errorf("kernel changed item %v of tree 5:\n  was %s\n  now %s", k, describeItem(k, old), describeItem(k, data))
}

// describeItem prints an item decoded when it is an inode, else in hex.
func describeItem(k format.Key, data []byte) string {
	if k.Type == format.InodeItemKey {
		if ii, err := format.DecodeInodeItem(data); err == nil {
			return fmt.Sprintf("%+v", *ii)
		}
	}
	return fmt.Sprintf("%d bytes %x", len(data), data)
}

// adoptNames adds the kernel's names to the namespace (its small file
// and directory as the workload's own) and returns their inode numbers.
func (w *txnWorkload) adoptNames(kn kernelNames) map[uint64]bool {
	root := w.ns.allDirs()[0]
	items := w.m.items(format.FSTreeObjectID)
	inos := map[uint64]bool{}
	for k, d := range items {
		if k.ObjectID != root.ino || k.Type != format.DirIndexKey {
			continue
		}
		es, err := format.DecodeDirItem(d)
		require.NoError(w.t, err)
		name := string(es[0].Name)
		if !kn.has(name) {
			continue
		}
		in := &txnInode{tree: root.tree, ino: es[0].Location.ObjectID, parent: root, name: name, index: k.Offset}
		inos[in.ino] = true
		root.dir.names[name] = true
		root.dir.nextIndex = max(root.dir.nextIndex, k.Offset+1)
		switch name {
		case kn.dir:
			in.dir = newTxnDir(name)
			w.main.addDir(in)
		case kn.file:
			root.dir.files = append(root.dir.files, in)
			w.main.load.files++
		}
	}
	w.ns.nextIno[root.tree] = max(w.ns.nextIno[root.tree], maxInode(items)+1)
	return inos
}
