package tests

// Namespace operations of TestMountWorkload: create, mkdir, mknod,
// symlink, link, unlink, rmdir, rename (all flags), readdir, readlink.
// Each predicts its errno from the model the way the VFS and btrfs decide
// it, calls the syscall, and applies a success to the model.

import (
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// existErr is EEXIST when the name is taken.
func existErr(dir *mnode, name string) syscall.Errno {
	if dir.kids[name] != nil {
		return syscall.EEXIST
	}
	return 0
}

func (w *mountWorkload) opCreate() {
	if w.full() {
		w.opUnlink()
		return
	}
	dir, name := w.pickDir(true), w.name()
	perm := uint32(w.rng.IntN(0o1000))
	w.note("create %s %#o", w.m.linkPath(mlink{dir, name}), perm)
	fd, err := unix.Open(w.path(dir, name), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, perm)
	if w.check(err, existErr(dir, name)) {
		unix.Close(fd)
		w.created(dir, name, &mnode{typ: syscall.S_IFREG, perm: perm &^ w.umask})
	}
}

func (w *mountWorkload) opMkdir() {
	if w.full() {
		w.opRmdir()
		return
	}
	dir, name := w.pickDir(true), w.name()
	perm := uint32(w.rng.IntN(0o1000)) | 0o700 // keep it usable without root
	if w.rng.IntN(8) == 0 {
		perm |= syscall.S_ISVTX
	}
	w.note("mkdir %s %#o", w.m.linkPath(mlink{dir, name}), perm)
	if w.check(unix.Mkdir(w.path(dir, name), perm), existErr(dir, name)) {
		w.created(dir, name, &mnode{typ: syscall.S_IFDIR, perm: perm &^ w.umask})
	}
}

func (w *mountWorkload) opMknod() {
	if w.full() {
		w.opUnlink()
		return
	}
	dir, name := w.pickDir(true), w.name()
	perm := uint32(w.rng.IntN(0o1000))
	n := &mnode{typ: w.nodeType(), perm: perm &^ w.umask}
	if n.typ == syscall.S_IFCHR || n.typ == syscall.S_IFBLK {
		n.rdev = unix.Mkdev(uint32(w.rng.IntN(1<<12)), uint32(w.rng.IntN(1<<20)))
	}
	w.note("mknod %s %#o rdev %#x", w.m.linkPath(mlink{dir, name}), n.typ|perm, n.rdev)
	if w.check(unix.Mknod(w.path(dir, name), n.typ|perm, int(n.rdev)), existErr(dir, name)) {
		w.created(dir, name, n)
	}
}

// nodeType: fifos and sockets; devices too as root.
func (w *mountWorkload) nodeType() uint32 {
	types := []uint32{syscall.S_IFIFO, syscall.S_IFIFO, syscall.S_IFSOCK}
	if w.root {
		types = append(types, syscall.S_IFCHR, syscall.S_IFBLK)
	}
	return types[w.rng.IntN(len(types))]
}

func (w *mountWorkload) opSymlink() {
	if w.full() {
		w.opUnlink()
		return
	}
	dir, name := w.pickDir(true), w.name()
	n := 1 + w.rng.IntN(100)
	if w.rng.IntN(20) == 0 {
		n = 1 + w.rng.IntN(1000)
	}
	target := w.linkTarget(n)
	w.note("symlink %s -> %q", w.m.linkPath(mlink{dir, name}), target)
	if w.check(unix.Symlink(target, w.path(dir, name)), existErr(dir, name)) {
		w.created(dir, name, &mnode{typ: syscall.S_IFLNK, perm: 0o777, target: target})
	}
}

// linkTarget is a path-like target of n bytes.
func (w *mountWorkload) linkTarget(n int) string {
	b := []byte(w.letters(n))
	for i := range b {
		if w.rng.IntN(8) == 0 {
			b[i] = '/'
		}
	}
	return string(b)
}

func (w *mountWorkload) opLink() {
	src, n, ok := w.pickLink(func(n *mnode) bool { return !n.isDir() || w.rng.IntN(20) == 0 })
	if !ok || w.full() {
		w.opCreate()
		return
	}
	dir, name := w.pickDir(true), w.name()
	want := existErr(dir, name) // the VFS looks the new name up first
	if want == 0 && n.isDir() {
		want = syscall.EPERM
	}
	w.note("link %s %s", w.m.linkPath(src), w.m.linkPath(mlink{dir, name}))
	if w.check(unix.Link(w.path(src.dir, src.name), w.path(dir, name)), want) {
		w.m.link(dir, name, n)
	}
}

func (w *mountWorkload) opUnlink() {
	l := w.pickEntry(func(n *mnode) bool { return !n.isDir() || w.rng.IntN(10) == 0 })
	n := l.dir.kids[l.name]
	var want syscall.Errno
	switch {
	case n == nil:
		want = syscall.ENOENT
	case n.isDir():
		want = syscall.EISDIR
	}
	w.note("unlink %s", w.m.linkPath(l))
	if w.check(unix.Unlink(w.path(l.dir, l.name)), want) {
		w.m.unlink(l.dir, l.name)
	}
}

func (w *mountWorkload) opRmdir() {
	l := w.pickEntry(func(n *mnode) bool { return n.isDir() || w.rng.IntN(10) == 0 })
	n := l.dir.kids[l.name]
	var want syscall.Errno
	switch {
	case n == nil:
		want = syscall.ENOENT
	case !n.isDir():
		want = syscall.ENOTDIR
	case len(n.kids) > 0:
		want = syscall.ENOTEMPTY
	}
	w.note("rmdir %s", w.m.linkPath(l))
	if w.check(unix.Rmdir(w.path(l.dir, l.name)), want) {
		w.m.unlink(l.dir, l.name)
	}
}

func (w *mountWorkload) opRename() {
	src := w.pickEntry(anyNode)
	dst := mlink{w.pickDir(true), w.name()}
	if w.rng.IntN(5) < 2 {
		dst = w.pickEntry(anyNode)
	}
	var flags uint
	switch w.rng.IntN(8) {
	case 0:
		flags = unix.RENAME_NOREPLACE
	case 1, 2:
		flags = unix.RENAME_EXCHANGE
	}
	want, noop := renameErr(src, dst, flags)
	w.note("rename %s %s flags %d", w.m.linkPath(src), w.m.linkPath(dst), flags)
	err := unix.Renameat2(unix.AT_FDCWD, w.path(src.dir, src.name), unix.AT_FDCWD, w.path(dst.dir, dst.name), flags)
	if !w.check(err, want) || noop {
		return
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		w.m.exchange(src.dir, src.name, dst.dir, dst.name)
	} else {
		w.m.rename(src.dir, src.name, dst.dir, dst.name)
	}
}

// renameErr predicts renameat2 in the order of the VFS (do_renameat2,
// lock_rename's trap, vfs_rename, may_delete) and btrfs (ENOTEMPTY);
// noop: a success that changes nothing (both names are the same inode).
func renameErr(src, dst mlink, flags uint) (errno syscall.Errno, noop bool) {
	s, d := src.dir.kids[src.name], dst.dir.kids[dst.name]
	exchange := flags&unix.RENAME_EXCHANGE != 0
	switch {
	case s == nil, exchange && d == nil:
		return syscall.ENOENT, false
	case flags&unix.RENAME_NOREPLACE != 0 && d != nil:
		return syscall.EEXIST, false
	case s.isDir() && dst.dir.within(s): // source above the target
		return syscall.EINVAL, false
	case d != nil && d.isDir() && src.dir.within(d): // target above the source
		if exchange {
			return syscall.EINVAL, false
		}
		return syscall.ENOTEMPTY, false
	case s == d:
		return 0, true
	case d == nil || exchange:
		return 0, false
	case s.isDir() && !d.isDir():
		return syscall.ENOTDIR, false
	case !s.isDir() && d.isDir():
		return syscall.EISDIR, false
	case d.isDir() && len(d.kids) > 0:
		return syscall.ENOTEMPTY, false
	}
	return 0, false
}

func (w *mountWorkload) opReaddir() {
	dir := w.pickDir(false)
	p := w.path(dir, "")
	w.note("readdir %s", w.m.dirPath(dir))
	ents, err := os.ReadDir(p)
	w.check(err, 0)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
		if n := dir.kids[e.Name()]; n != nil && fileModeType(e.Type()) != n.typ {
			w.fail("readdir %s: %s has type %v, want %#o", p, e.Name(), e.Type(), n.typ)
		}
	}
	want := slices.Sorted(slices.Values(dir.names))
	if !slices.Equal(got, want) {
		w.fail("readdir %s:\n got %q\nwant %q", p, got, want)
	}
}

// fileModeType converts an os.FileMode's type bits to S_IFMT bits.
func fileModeType(m os.FileMode) uint32 {
	switch {
	case m&os.ModeDir != 0:
		return syscall.S_IFDIR
	case m&os.ModeSymlink != 0:
		return syscall.S_IFLNK
	case m&os.ModeNamedPipe != 0:
		return syscall.S_IFIFO
	case m&os.ModeSocket != 0:
		return syscall.S_IFSOCK
	case m&os.ModeCharDevice != 0:
		return syscall.S_IFCHR
	case m&os.ModeDevice != 0:
		return syscall.S_IFBLK
	}
	return syscall.S_IFREG
}

func (w *mountWorkload) opReadlink() {
	l := w.pickEntry(func(n *mnode) bool { return n.typ == syscall.S_IFLNK || w.rng.IntN(10) == 0 })
	n := l.dir.kids[l.name]
	want := syscall.EINVAL
	switch {
	case n == nil:
		want = syscall.ENOENT
	case n.typ == syscall.S_IFLNK:
		want = 0
	}
	w.note("readlink %s", w.m.linkPath(l))
	buf := make([]byte, 4096)
	k, err := unix.Readlink(w.path(l.dir, l.name), buf)
	if w.check(err, want) && string(buf[:k]) != n.target {
		w.fail("readlink %s: %q, want %q", w.m.linkPath(l), buf[:k], n.target)
	}
}
