package tests

// The model of TestMountWorkload: what a POSIX filesystem should hold after
// the workload's operations — directories, names, inodes with their type,
// mode, owner, content, link target, xattrs and identity (hard links share
// one mnode).

import (
	"path"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// mnode is one inode.
type mnode struct {
	typ      uint32 // S_IFMT bits
	perm     uint32 // permission bits
	uid, gid uint32
	rdev     uint64
	data     []byte // regular file
	target   string // symlink
	xattrs   map[string][]byte
	ino      uint64  // st_ino, seen at creation
	links    []mlink // the names of the inode (one for a directory)
	// atime and mtime as last set by utimes; nil once an operation may
	// have changed them.
	atime, mtime *unix.Timespec
	// directories
	kids  map[string]*mnode
	names []string // the keys of kids in insertion order, for seeded picks
}

// mlink is one name: directory and entry.
type mlink struct {
	dir  *mnode
	name string
}

func (n *mnode) isDir() bool { return n.typ == syscall.S_IFDIR }
func (n *mnode) isReg() bool { return n.typ == syscall.S_IFREG }

// size is st_size as btrfs reports it.
func (n *mnode) size() int64 {
	switch n.typ {
	case syscall.S_IFREG:
		return int64(len(n.data))
	case syscall.S_IFLNK:
		return int64(len(n.target))
	case syscall.S_IFDIR:
		var s int64
		for _, k := range n.names {
			s += 2 * int64(len(k)) // DIR_ITEM and DIR_INDEX
		}
		return s
	}
	return 0
}

// nlink is st_nlink as btrfs reports it (1 for a directory).
func (n *mnode) nlink() int {
	if n.isDir() {
		return 1
	}
	return len(n.links)
}

// parent is a directory's parent (nil for the root).
func (n *mnode) parent() *mnode {
	if len(n.links) == 0 {
		return nil
	}
	return n.links[0].dir
}

// within reports whether n is d or inside directory d.
func (n *mnode) within(d *mnode) bool {
	for p := n; p != nil; p = p.parent() {
		if p == d {
			return true
		}
	}
	return false
}

// depth is the number of directories above n.
func (n *mnode) depth() int {
	d := 0
	for p := n.parent(); p != nil; p = p.parent() {
		d++
	}
	return d
}

// mountModel is the whole tree.
type mountModel struct {
	root  *mnode
	nodes []*mnode // every inode but the root, in creation order
	bytes int64    // sum of the regular files' sizes
}

func newMountModel(rootIno uint64, perm uint32) *mountModel {
	root := &mnode{typ: syscall.S_IFDIR, perm: perm, ino: rootIno, kids: map[string]*mnode{}, xattrs: map[string][]byte{}}
	return &mountModel{root: root}
}

// dirPath is the path of directory d below the mount.
func (m *mountModel) dirPath(d *mnode) string {
	if d == m.root {
		return "/"
	}
	return path.Join(m.dirPath(d.parent()), d.links[0].name)
}

func (m *mountModel) linkPath(l mlink) string { return path.Join(m.dirPath(l.dir), l.name) }

// add links a new inode as name in dir.
func (m *mountModel) add(dir *mnode, name string, n *mnode) {
	if n.xattrs == nil {
		n.xattrs = map[string][]byte{}
	}
	if n.isDir() {
		n.kids = map[string]*mnode{}
	}
	m.nodes = append(m.nodes, n)
	m.link(dir, name, n)
}

// link adds a name for n.
func (m *mountModel) link(dir *mnode, name string, n *mnode) {
	dir.kids[name] = n
	dir.names = append(dir.names, name)
	dir.mtime = nil
	n.links = append(n.links, mlink{dir, name})
}

// unlink removes a name; the inode goes with its last name.
func (m *mountModel) unlink(dir *mnode, name string) {
	n := dir.kids[name]
	delete(dir.kids, name)
	dir.names = slices.DeleteFunc(dir.names, func(s string) bool { return s == name })
	dir.mtime = nil
	n.links = slices.DeleteFunc(n.links, func(l mlink) bool { return l.dir == dir && l.name == name })
	if len(n.links) == 0 {
		m.nodes = slices.DeleteFunc(m.nodes, func(x *mnode) bool { return x == n })
		if n.isReg() {
			m.bytes -= int64(len(n.data))
		}
	}
}

// rename moves the name (od, on) to (nd, nn), replacing what was there.
func (m *mountModel) rename(od *mnode, on string, nd *mnode, nn string) {
	n := od.kids[on]
	if _, ok := nd.kids[nn]; ok {
		m.unlink(nd, nn)
	}
	m.unlink0(od, on, n)
	m.link(nd, nn, n)
}

// exchange swaps the inodes of two names.
func (m *mountModel) exchange(od *mnode, on string, nd *mnode, nn string) {
	a, b := od.kids[on], nd.kids[nn]
	m.unlink0(od, on, a)
	m.unlink0(nd, nn, b)
	m.link(od, on, b)
	m.link(nd, nn, a)
}

// unlink0 removes a name of n that is about to get another one.
func (m *mountModel) unlink0(dir *mnode, name string, n *mnode) {
	delete(dir.kids, name)
	dir.names = slices.DeleteFunc(dir.names, func(s string) bool { return s == name })
	dir.mtime = nil
	n.links = slices.DeleteFunc(n.links, func(l mlink) bool { return l.dir == dir && l.name == name })
}

// setData replaces a regular file's content.
func (m *mountModel) setData(n *mnode, data []byte) {
	m.bytes += int64(len(data)) - int64(len(n.data))
	n.data = data
	n.mtime = nil
}

// dirs lists the directories, the root first.
func (m *mountModel) dirs() []*mnode {
	out := []*mnode{m.root}
	for _, n := range m.nodes {
		if n.isDir() {
			out = append(out, n)
		}
	}
	return out
}
