package tests

// The whole-tree comparison of TestMountWorkload: walk a mounted tree
// (cowfs through FUSE, or the kernel's btrfs) and compare every name,
// attribute, content, link target and xattr with the model, and every
// inode number with the one the inode had at creation.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// treeDiff collects differences, so that one comparison reports many.
type treeDiff []string

func (d *treeDiff) addf(format string, args ...any) { *d = append(*d, fmt.Sprintf(format, args...)) }

// compareTree compares the tree mounted on root with the model.
func (w *mountWorkload) compareTree(root string) {
	w.t.Helper()
	var diffs treeDiff
	w.compareDir(root, w.m.root, &diffs)
	w.compares++
	if len(diffs) > 0 {
		w.fail("tree on %s differs from the model in %d places:\n  %s", root, len(diffs),
			strings.Join(diffs[:min(len(diffs), 40)], "\n  "))
	}
}

// compareDir compares directory d (at path p), its entries and,
// recursively, everything below.
func (w *mountWorkload) compareDir(p string, d *mnode, diffs *treeDiff) {
	diffs.addAll(w.nodeDiffs(p, d))
	ents, err := os.ReadDir(p)
	if err != nil {
		diffs.addf("readdir %s: %v", p, err)
		return
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if want := slices.Sorted(slices.Values(d.names)); !slices.Equal(got, want) {
		diffs.addf("%s: entries %q, want %q", p, got, want)
	}
	for _, e := range ents {
		n := d.kids[e.Name()]
		switch {
		case n == nil:
		case n.isDir():
			w.compareDir(filepath.Join(p, e.Name()), n, diffs)
		default:
			diffs.addAll(w.nodeDiffs(filepath.Join(p, e.Name()), n))
		}
	}
}

func (d *treeDiff) addAll(s []string) { *d = append(*d, s...) }

// compareAttr is the check of one stat (opStat).
func (w *mountWorkload) compareAttr(p string, n *mnode) {
	w.t.Helper()
	if diffs := w.attrDiffs(p, n); len(diffs) > 0 {
		w.fail("%s", strings.Join(diffs, "\n  "))
	}
}

// nodeDiffs compares one inode: attributes, content or target, xattrs.
func (w *mountWorkload) nodeDiffs(p string, n *mnode) []string {
	diffs := w.attrDiffs(p, n)
	switch n.typ {
	case unix.S_IFREG:
		got, err := w.readAll(p, len(n.data))
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: read: %v", p, err))
		} else if !bytes.Equal(got, n.data) {
			diffs = append(diffs, fmt.Sprintf("%s: content of %d bytes differs from the model's %d at %d", p, len(got), len(n.data), firstDiff(got, n.data)))
		}
	case unix.S_IFLNK:
		if got, err := os.Readlink(p); err != nil || got != n.target {
			diffs = append(diffs, fmt.Sprintf("%s: readlink %q %v, want %q", p, got, err, n.target))
		}
	}
	return append(diffs, xattrDiffs(p, n)...)
}

// readAll reads the file at p, expected to hold size bytes, into the
// workload's reused buffer (-race makes fresh buffers costly).
func (w *mountWorkload) readAll(p string, size int) ([]byte, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if cap(w.buf) < size+1 {
		w.buf = make([]byte, size+1)
	}
	buf, k := w.buf[:size+1], 0
	for k < len(buf) {
		r, err := unix.Pread(fd, buf[k:], int64(k))
		if err != nil {
			return nil, err
		}
		if r == 0 {
			break
		}
		k += r
	}
	return buf[:k], nil
}

// attrDiffs compares lstat with the model.
func (w *mountWorkload) attrDiffs(p string, n *mnode) []string {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return []string{fmt.Sprintf("lstat %s: %v", p, err)}
	}
	var d treeDiff
	check := func(what string, got, want any) {
		if got != want {
			d.addf("%s: %s %v, want %v", p, what, got, want)
		}
	}
	check("type", st.Mode&unix.S_IFMT, n.typ)
	check("mode", fmt.Sprintf("%#o", st.Mode&07777), fmt.Sprintf("%#o", n.perm))
	check("ino", st.Ino, n.ino)
	check("nlink", uint64(st.Nlink), uint64(n.nlink()))
	check("uid", st.Uid, n.uid)
	check("gid", st.Gid, n.gid)
	check("size", st.Size, n.size())
	if n.typ == unix.S_IFCHR || n.typ == unix.S_IFBLK {
		check("rdev", fmt.Sprintf("%#x", st.Rdev), fmt.Sprintf("%#x", n.rdev))
	}
	if n.atime != nil {
		check("atime", st.Atim, *n.atime)
	}
	if n.mtime != nil {
		check("mtime", st.Mtim, *n.mtime)
	}
	return d
}

// xattrDiffs compares the names and values of an inode's xattrs.
func xattrDiffs(p string, n *mnode) []string {
	names, err := listXattrNames(p)
	if err != nil {
		return []string{fmt.Sprintf("%s: llistxattr: %v", p, err)}
	}
	var d treeDiff
	if want := sortedKeys(n.xattrs); !slices.Equal(names, want) {
		d.addf("%s: xattrs %q, want %q", p, names, want)
	}
	for _, name := range names {
		want, ok := n.xattrs[name]
		if !ok {
			continue
		}
		buf := make([]byte, len(want)+1) // a longer value fails with ERANGE
		k, err := unix.Lgetxattr(p, name, buf)
		if err != nil || !bytes.Equal(buf[:k], want) {
			d.addf("%s: xattr %s: %d bytes (%v), want %d", p, name, k, err, len(want))
		}
	}
	return d
}
