package tests

// The namespace of the transaction workload: the directories, files and
// subvolumes it made (or adopted from the kernel), their names and dir
// indexes, and the next free inode number of each tree. Operations pick
// their targets here; the item model (txn_model_test.go) holds the bytes.

import (
	"fmt"
	"math/rand/v2"
	"path"
	"sync"

	"cowfs/disk/format"
)

// txnInode is a regular file or a directory of one subvolume tree.
type txnInode struct {
	tree, ino uint64
	dir       *txnDir   // non-nil for a directory
	parent    *txnInode // nil for the root directory of a subvolume
	name      string    // name in parent (for a subvolume root: in its parent dir)
	index     uint64    // dir index of that name
	xattrs    []string  // xattr names, in the order set
}

// txnDir is what a directory adds: its path from the mount point, its
// names, and the regular files the workload may unlink.
type txnDir struct {
	path      string
	nextIndex uint64
	names     map[string]bool
	files     []*txnInode
}

func newTxnDir(path string) *txnDir {
	return &txnDir{path: path, nextIndex: 2, names: map[string]bool{}}
}

// relPath is the inode's path relative to the mount point.
func (in *txnInode) relPath() string {
	if in.dir != nil {
		return in.dir.path
	}
	return path.Join(in.parent.dir.path, in.name)
}

func (in *txnInode) String() string {
	return fmt.Sprintf("inode %d of tree %d (%q)", in.ino, in.tree, in.relPath())
}

// removeFile drops f from its directory's lists.
func (d *txnDir) removeFile(f *txnInode) {
	delete(d.names, f.name)
	for i, g := range d.files {
		if g == f {
			d.files[i] = d.files[len(d.files)-1]
			d.files = d.files[:len(d.files)-1]
			return
		}
	}
}

// txnNamespace is shared by a concurrent phase's goroutines: each works in
// its own directory, and mu guards the lists and counters.
type txnNamespace struct {
	mu         sync.Mutex
	dirs       []*txnInode
	subvols    []uint64
	nextIno    map[uint64]uint64 // per tree
	nextSubvol uint64
}

func newTxnNamespace() *txnNamespace {
	return &txnNamespace{nextIno: map[uint64]uint64{}, nextSubvol: 256}
}

func (ns *txnNamespace) addDir(d *txnInode) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.dirs = append(ns.dirs, d)
}

// reserveInos hands out n consecutive inode numbers of tree; a concurrent
// phase reserves each goroutine's range up front, so a seed gives the
// same inode numbers whatever the interleaving.
func (ns *txnNamespace) reserveInos(tree uint64, n int) uint64 {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	first := ns.nextIno[tree]
	ns.nextIno[tree] += uint64(n)
	return first
}

// newSubvolID hands out the next subvolume id.
func (ns *txnNamespace) newSubvolID() uint64 {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.nextSubvol++
	return ns.nextSubvol - 1
}

// addSubvol records subvolume id, whose inode numbers start at 257.
func (ns *txnNamespace) addSubvol(id uint64) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.subvols = append(ns.subvols, id)
	ns.nextIno[id] = format.FirstFreeObjectID + 1
}

func (ns *txnNamespace) subvolCount() int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return len(ns.subvols)
}

// randomDir picks a directory, uniformly.
func (ns *txnNamespace) randomDir(rng *rand.Rand) *txnInode {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.dirs[rng.IntN(len(ns.dirs))]
}

// distinctDirs picks n different directories (fewer if there are not n).
func (ns *txnNamespace) distinctDirs(rng *rand.Rand, n int) []*txnInode {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	perm := rng.Perm(len(ns.dirs))
	out := make([]*txnInode, 0, n)
	for _, i := range perm[:min(n, len(perm))] {
		out = append(out, ns.dirs[i])
	}
	return out
}

// allDirs returns a snapshot of the directory list.
func (ns *txnNamespace) allDirs() []*txnInode {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return append([]*txnInode(nil), ns.dirs...)
}
