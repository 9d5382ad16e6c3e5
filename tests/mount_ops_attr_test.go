package tests

// Attribute operations of TestMountWorkload: chmod, chown, utimes, stat,
// statfs.

import (
	"syscall"

	"golang.org/x/sys/unix"
)

func (w *mountWorkload) opChmod() {
	l, n, ok := w.pickLink(func(n *mnode) bool { return n.typ != syscall.S_IFLNK })
	if !ok {
		return
	}
	perm := uint32(w.rng.IntN(0o1000))
	if n.isDir() {
		perm |= 0o700
		if w.rng.IntN(4) == 0 {
			perm |= syscall.S_ISVTX
		}
	}
	w.note("chmod %s %#o", w.m.linkPath(l), perm)
	if w.check(unix.Chmod(w.path(l.dir, l.name), perm), 0) {
		n.perm = perm
	}
}

// mountOwners are the ids chown picks from.
var mountOwners = []uint32{0, 1, 1000, 65534, 4_000_000_000}

func (w *mountWorkload) opChown() {
	if !w.root {
		return
	}
	l, n, ok := w.pickLink(anyNode)
	if !ok {
		return
	}
	uid, gid := mountOwners[w.rng.IntN(len(mountOwners))], mountOwners[w.rng.IntN(len(mountOwners))]
	w.note("lchown %s %d %d", w.m.linkPath(l), uid, gid)
	argUID, argGID := int(uid), int(gid)
	if w.rng.IntN(5) == 0 {
		argGID, gid = -1, n.gid // leave the group
	}
	if w.check(unix.Lchown(w.path(l.dir, l.name), argUID, argGID), 0) {
		n.uid, n.gid = uid, gid
	}
}

func (w *mountWorkload) opUtimes() {
	l, n, ok := w.pickLink(anyNode)
	if !ok {
		return
	}
	at, mt := w.timespec(), w.timespec()
	omit := w.rng.IntN(10)
	switch omit {
	case 0:
		at.Nsec = unix.UTIME_OMIT
	case 1:
		mt.Nsec = unix.UTIME_OMIT
	}
	w.note("utimensat %s atime %v mtime %v", w.m.linkPath(l), at, mt)
	err := unix.UtimesNanoAt(unix.AT_FDCWD, w.path(l.dir, l.name), []unix.Timespec{at, mt}, unix.AT_SYMLINK_NOFOLLOW)
	if !w.check(err, 0) {
		return
	}
	if omit != 0 {
		n.atime = &at
	}
	if omit != 1 {
		n.mtime = &mt
	}
}

// timespec is a time between 1970 and 2038 with nanoseconds.
func (w *mountWorkload) timespec() unix.Timespec {
	return unix.Timespec{Sec: w.rng.Int64N(1 << 31), Nsec: w.rng.Int64N(1e9)}
}

func (w *mountWorkload) opStat() {
	l, n, ok := w.pickLink(anyNode)
	if !ok {
		return
	}
	w.note("lstat %s", w.m.linkPath(l))
	w.compareAttr(w.path(l.dir, l.name), n)
}

func (w *mountWorkload) opStatfs() {
	var st unix.Statfs_t
	w.note("statfs")
	w.check(unix.Statfs(w.mnt, &st), 0)
	if st.Type != fuseSuperMagic || st.Bsize <= 0 || st.Blocks == 0 || st.Bfree > st.Blocks ||
		st.Bavail > st.Bfree || st.Namelen != 255 || st.Files < st.Ffree {
		w.fail("statfs: implausible %+v", st)
	}
	if used, inodes := st.Files-st.Ffree, uint64(len(w.m.nodes)+1); used < inodes {
		w.fail("statfs: %d inodes in use, the tree has %d", used, inodes)
	}
}
