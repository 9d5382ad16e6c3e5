package tests

// File data operations of TestMountWorkload: write (pwrite, O_APPEND,
// O_TRUNC) and read at random offsets and sizes up to 1 MiB, sparse;
// truncate up and down; fallocate (0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE);
// fsync; and writes to an open file that has lost its last name.

import (
	"bytes"
	"syscall"

	"golang.org/x/sys/unix"
)

// resize changes a regular file's size in the model (zeros when it grows).
func (m *mountModel) resize(n *mnode, size int) {
	old := len(n.data)
	if size <= old {
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-old)...)
	}
	m.bytes += int64(size - old)
	n.mtime = nil
}

// ioSize: mostly small (unaligned), sometimes up to 64 KiB or 1 MiB.
func (w *mountWorkload) ioSize() int {
	switch r := w.rng.IntN(20); {
	case r < 14:
		return w.rng.IntN(4097)
	case r < 19:
		return w.rng.IntN(64<<10 + 1)
	}
	return w.rng.IntN(1<<20 + 1)
}

// offsetIn: inside the file, at its end, or past it (a hole).
func (w *mountWorkload) offsetIn(size int) int {
	switch r := w.rng.IntN(10); {
	case r < 5:
		return w.rng.IntN(size + 1)
	case r < 8:
		return size
	}
	return size + w.rng.IntN(2<<20)
}

// data is n bytes of the random pool.
func (w *mountWorkload) data(n int) []byte {
	o := w.rng.IntN(len(w.pool) - n + 1)
	return w.pool[o : o+n]
}

// openFile opens a model file's path, failing the workload on error.
func (w *mountWorkload) openFile(l mlink, flags int) int {
	w.t.Helper()
	fd, err := unix.Open(w.path(l.dir, l.name), flags|unix.O_CLOEXEC, 0)
	w.check(err, 0)
	return fd
}

func (w *mountWorkload) opWrite() {
	l, n, ok := w.pickLink(isRegNode)
	if !ok {
		w.opCreate()
		return
	}
	if w.m.bytes > mountMaxBytes {
		w.shrink()
		return
	}
	switch w.rng.IntN(12) {
	case 0:
		w.writeOpen(l, n, unix.O_APPEND)
	case 1:
		w.writeOpen(l, n, unix.O_TRUNC)
	default:
		w.pwrite(l, n, w.fileFD(l, n))
	}
}

// writeOpen opens the file with O_APPEND or O_TRUNC and writes to it.
func (w *mountWorkload) writeOpen(l mlink, n *mnode, flag int) {
	fd := w.openFile(l, unix.O_WRONLY|flag)
	defer unix.Close(fd)
	if flag == unix.O_TRUNC {
		w.m.resize(n, 0)
		w.pwrite(l, n, fd)
		return
	}
	p := w.data(min(w.ioSize(), max(0, mountMaxFile-len(n.data))))
	w.note("append %s len %d (at %d)", w.m.linkPath(l), len(p), len(n.data))
	w.wrote(n, len(n.data), p, func() (int, error) { return unix.Write(fd, p) })
}

// pwrite writes at a random offset through fd.
func (w *mountWorkload) pwrite(l mlink, n *mnode, fd int) {
	off, p := w.offsetIn(len(n.data)), w.data(w.ioSize())
	if off+len(p) > mountMaxFile {
		off = max(0, mountMaxFile-len(p))
	}
	w.note("pwrite %s off %d len %d", w.m.linkPath(l), off, len(p))
	w.wrote(n, off, p, func() (int, error) { return unix.Pwrite(fd, p, int64(off)) })
}

// wrote runs a write of p at off and applies it to the model.
func (w *mountWorkload) wrote(n *mnode, off int, p []byte, write func() (int, error)) {
	w.t.Helper()
	k, err := write()
	w.check(err, 0)
	if k != len(p) {
		w.fail("short write: %d of %d", k, len(p))
	}
	if len(p) == 0 {
		// A write of nothing changes nothing, not even the size past
		// EOF (POSIX; the kernel returns 0 before the filesystem sees it).
		return
	}
	if end := off + len(p); end > len(n.data) {
		w.m.resize(n, end)
	}
	copy(n.data[off:], p)
	n.mtime = nil
}

// shrink truncates the largest of a few files to a quarter at most, to
// keep the tree's data within mountMaxBytes.
func (w *mountWorkload) shrink() {
	var big *mnode
	for range 5 {
		if n := w.pickNode(isRegNode); n != nil && (big == nil || len(n.data) > len(big.data)) {
			big = n
		}
	}
	size := w.rng.IntN(len(big.data)/4 + 1)
	w.note("truncate %s %d (shrink)", w.m.linkPath(big.links[0]), size)
	w.check(unix.Truncate(w.path(big.links[0].dir, big.links[0].name), int64(size)), 0)
	w.m.resize(big, size)
}

func (w *mountWorkload) opRead() {
	l, n, ok := w.pickLink(isRegNode)
	if !ok {
		return
	}
	off, size := w.rng.IntN(len(n.data)+100), w.ioSize()
	w.note("read %s off %d len %d", w.m.linkPath(l), off, size)
	fd := w.fileFD(l, n)
	if cap(w.buf) < size {
		w.buf = make([]byte, size)
	}
	got := w.buf[:size]
	k := w.preadFull(fd, got, off)
	want := n.data[min(off, len(n.data)):min(off+size, len(n.data))]
	if !bytes.Equal(got[:k], want) {
		w.fail("read %s off %d: %d bytes differ from the model's %d (first difference at %d)",
			w.m.linkPath(l), off, k, len(want), firstDiff(got[:k], want))
	}
}

// preadFull reads until p is full or the end of the file.
func (w *mountWorkload) preadFull(fd int, p []byte, off int) int {
	w.t.Helper()
	k := 0
	for k < len(p) {
		r, err := unix.Pread(fd, p[k:], int64(off+k))
		w.check(err, 0)
		if r == 0 {
			break
		}
		k += r
	}
	return k
}

// firstDiff is the first offset where a and b differ (or the shorter
// length).
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func (w *mountWorkload) opTruncate() {
	if w.rng.IntN(30) == 0 {
		d := w.pickDir(false)
		w.note("truncate %s (a directory)", w.m.dirPath(d))
		w.check(unix.Truncate(w.path(d, ""), 0), syscall.EISDIR)
		return
	}
	l, n, ok := w.pickLink(isRegNode)
	if !ok {
		return
	}
	size := w.rng.IntN(len(n.data) + 1)
	if w.rng.IntN(2) == 0 && w.m.bytes < mountMaxBytes {
		size = min(mountMaxFile, len(n.data)+w.rng.IntN(1<<20))
	}
	w.note("truncate %s %d (from %d)", w.m.linkPath(l), size, len(n.data))
	if w.rng.IntN(4) == 0 {
		w.check(unix.Ftruncate(w.fileFD(l, n), int64(size)), 0)
	} else {
		w.check(unix.Truncate(w.path(l.dir, l.name), int64(size)), 0)
	}
	w.m.resize(n, size)
}

func (w *mountWorkload) opFallocate() {
	l, n, ok := w.pickLink(isRegNode)
	if !ok {
		return
	}
	modes := []uint32{0, 0, unix.FALLOC_FL_KEEP_SIZE, unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE}
	mode := modes[w.rng.IntN(len(modes))]
	off, length := w.rng.IntN(len(n.data)+256<<10+1), w.ioSize()+1
	if w.m.bytes > mountMaxBytes || off+length > mountMaxFile {
		off, length = w.rng.IntN(len(n.data)+1), 1+w.rng.IntN(64<<10)
	}
	w.note("fallocate %s mode %#x off %d len %d (size %d)", w.m.linkPath(l), mode, off, length, len(n.data))
	w.check(unix.Fallocate(w.fileFD(l, n), mode, int64(off), int64(length)), 0)
	end := off + length
	switch {
	case mode == 0 && end > len(n.data):
		w.m.resize(n, end)
	case mode&unix.FALLOC_FL_PUNCH_HOLE != 0 && off < len(n.data):
		clear(n.data[off:min(end, len(n.data))])
	}
	n.mtime = nil
}

func (w *mountWorkload) opFsync() {
	l, n, ok := w.pickLink(func(n *mnode) bool { return n.isReg() || n.isDir() })
	if !ok {
		return
	}
	flags := unix.O_RDONLY
	if n.isDir() {
		flags |= unix.O_DIRECTORY
	}
	w.note("fsync %s", w.m.linkPath(l))
	fd := w.openFile(l, flags)
	defer unix.Close(fd)
	if w.rng.IntN(2) == 0 {
		w.check(unix.Fdatasync(fd), 0)
	} else {
		w.check(unix.Fsync(fd), 0)
	}
}

// opOrphan unlinks the last name of an open file, then writes, reads
// and fsyncs it through the descriptor.
func (w *mountWorkload) opOrphan() {
	l, n, ok := w.pickLink(func(n *mnode) bool { return n.isReg() && len(n.links) == 1 })
	if !ok {
		return
	}
	w.note("orphan %s (open, unlink, write, read, fsync, close)", w.m.linkPath(l))
	fd := w.openFile(l, unix.O_RDWR)
	defer unix.Close(fd)
	w.check(unix.Unlink(w.path(l.dir, l.name)), 0)
	data := append([]byte{}, n.data...)
	w.m.unlink(l.dir, l.name)
	off, p := w.offsetIn(len(data)), w.data(w.ioSize())
	if _, err := unix.Pwrite(fd, p, int64(off)); err != nil {
		w.fail("pwrite to an unlinked file: %v", err)
	}
	data = append(data, make([]byte, max(0, off+len(p)-len(data)))...)
	copy(data[off:], p)
	got := make([]byte, len(data))
	if k := w.preadFull(fd, got, 0); !bytes.Equal(got[:k], data) {
		w.fail("unlinked file: read %d bytes differing from the %d written (at %d)", k, len(data), firstDiff(got[:k], data))
	}
	var st unix.Stat_t
	w.check(unix.Fstat(fd, &st), 0)
	if st.Nlink != 0 || st.Size != int64(len(data)) {
		w.fail("unlinked file: nlink %d size %d, want 0 and %d", st.Nlink, st.Size, len(data))
	}
	w.check(unix.Fsync(fd), 0)
}

// mountOpenFiles is how many files the workload keeps open at once.
const mountOpenFiles = 16

// fileFD is a descriptor (O_RDWR) of regular file n, kept open across
// operations: renames, chmods and the loss of its last name (the file
// then lives on as an orphan until the descriptor is closed, when it is
// evicted from this cache or at closeFiles).
func (w *mountWorkload) fileFD(l mlink, n *mnode) int {
	w.t.Helper()
	if fd, ok := w.fds[n]; ok {
		return fd
	}
	if len(w.fdOrder) == mountOpenFiles {
		unix.Close(w.fds[w.fdOrder[0]])
		delete(w.fds, w.fdOrder[0])
		w.fdOrder = w.fdOrder[1:]
	}
	fd := w.openFile(l, unix.O_RDWR)
	w.fds[n] = fd
	w.fdOrder = append(w.fdOrder, n)
	return fd
}

// closeFiles closes every kept descriptor (before an unmount).
func (w *mountWorkload) closeFiles() {
	for _, n := range w.fdOrder {
		unix.Close(w.fds[n])
	}
	clear(w.fds)
	w.fdOrder = nil
}
