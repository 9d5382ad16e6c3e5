package tests

// Where the transaction workload's operations act: inode numbers, the
// directory a name goes into, the file to unlink, the inode whose xattrs
// change, the parent of a new subvolume. A concurrent worker stays in its
// own directory.

import (
	"fmt"

	"cowfs/disk/format"
)

// newIno returns a free inode number of tree.
func (w *txnWorker) newIno(tree uint64) (uint64, error) {
	if w.scope == nil {
		return w.ns.reserveInos(tree, 1), nil
	}
	if w.inoNext >= w.inoEnd {
		return 0, fmt.Errorf("worker in %v: reserved inode numbers used up", w.scope)
	}
	w.inoNext++
	return w.inoNext - 1, nil
}

// targetDir is where a new name goes.
func (w *txnWorker) targetDir() *txnInode {
	if w.scope != nil {
		return w.scope
	}
	return w.ns.randomDir(w.rng)
}

// targetFile picks a file to unlink, or nil.
func (w *txnWorker) targetFile() *txnInode {
	for range 4 {
		if d := w.targetDir(); len(d.dir.files) > 0 {
			return d.dir.files[w.rng.IntN(len(d.dir.files))]
		}
	}
	return nil
}

// xattrTarget picks an inode for an xattr operation: a file of a
// directory, or the directory itself; withXattrs wants one having xattrs
// (nil if none is found quickly).
func (w *txnWorker) xattrTarget(withXattrs bool) *txnInode {
	for range 6 {
		d := w.targetDir()
		in := d
		if len(d.dir.files) > 0 && w.rng.IntN(3) > 0 {
			in = d.dir.files[w.rng.IntN(len(d.dir.files))]
		}
		if !withXattrs || len(in.xattrs) > 0 {
			return in
		}
	}
	return nil
}

// subvolsHere reports whether the worker may create subvolumes: the
// serial worker anywhere in tree 5; a concurrent one (the first of its
// phase) in its directory if that is in tree 5.
func (w *txnWorker) subvolsHere() bool {
	return w.scope == nil || (w.subvols && w.scope.tree == format.FSTreeObjectID)
}

// subvolParent picks a directory of tree 5 for a new subvolume.
func (w *txnWorker) subvolParent() *txnInode {
	var in5 []*txnInode
	for _, d := range w.ns.allDirs() {
		if d.tree == format.FSTreeObjectID {
			in5 = append(in5, d)
		}
	}
	return in5[w.rng.IntN(len(in5))]
}

// addDir registers a new directory: at once in a serial phase, after the
// phase for a concurrent worker (so the list's order follows the seed).
func (w *txnWorker) addDir(d *txnInode) {
	w.load.dirs++
	if w.scope != nil {
		w.newDirs = append(w.newDirs, d)
		return
	}
	w.ns.addDir(d)
}
