package fs

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// The randomized test: operations with random (often wrong) arguments run
// through the API and on a simple model of the namespace; every result
// must match the model's, errno included, and a walk of the whole tree
// must match it after each batch and after every reopen (which checks the
// image with our fsck and btrfs check).

// mNode is an inode of the model.
type mNode struct {
	ino     uint64
	mode    uint32
	rdev    uint32
	data    []byte            // regular file
	target  string            // symlink
	xattrs  map[string][]byte //
	nlink   int               //
	entries map[string]*mNode // directory
	open    int
}

func (n *mNode) isDir() bool { return n.mode&syscall.S_IFMT == syscall.S_IFDIR }
func (n *mNode) isReg() bool { return n.mode&syscall.S_IFMT == syscall.S_IFREG }

type model struct {
	t     *testing.T
	tf    *testFS
	rng   *rand.Rand
	byIno map[uint64]*mNode
	ops   map[string]int // successful operations by kind
	errs  map[syscall.Errno]int
}

func newModel(t *testing.T, tf *testFS, rng *rand.Rand) *model {
	root := &mNode{ino: RootIno, mode: syscall.S_IFDIR | 0o755, nlink: 1, entries: map[string]*mNode{}, xattrs: map[string][]byte{}}
	return &model{t: t, tf: tf, rng: rng, byIno: map[uint64]*mNode{RootIno: root}, ops: map[string]int{}, errs: map[syscall.Errno]int{}}
}

var traceModel = false

var modelNames = []string{"a", "b", "c", "dir", "file", "x.y", strings.Repeat("n", 255)}

func (m *model) name() string {
	if m.rng.IntN(50) == 0 {
		return strings.Repeat("L", 256) // ENAMETOOLONG
	}
	return modelNames[m.rng.IntN(len(modelNames))]
}

// pick returns a random live inode (one with names, or open).
func (m *model) pick(filter func(*mNode) bool) *mNode {
	var c []*mNode
	for _, ino := range slices.Sorted(maps.Keys(m.byIno)) {
		if n := m.byIno[ino]; filter == nil || filter(n) {
			c = append(c, n)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[m.rng.IntN(len(c))]
}

// dir returns a directory, now and then a non-directory or a missing inode.
func (m *model) dir() uint64 {
	switch m.rng.IntN(20) {
	case 0:
		return 999999
	case 1:
		if n := m.pick(func(n *mNode) bool { return !n.isDir() }); n != nil {
			return n.ino
		}
	}
	return m.pick((*mNode).isDir).ino
}

// dirErr is the error of using ino as a directory.
func (m *model) dirErr(ino uint64) syscall.Errno {
	n := m.byIno[ino]
	switch {
	case n == nil:
		return syscall.ENOENT
	case !n.isDir():
		return syscall.ENOTDIR
	case n.nlink == 0:
		return syscall.ENOENT
	}
	return 0
}

func nameErr(name string) syscall.Errno {
	if len(name) > 255 {
		return syscall.ENAMETOOLONG
	}
	return 0
}

func first(errs ...syscall.Errno) syscall.Errno {
	for _, e := range errs {
		if e != 0 {
			return e
		}
	}
	return 0
}

// check compares an operation's error with the model's expectation.
func (m *model) check(op string, err error, want syscall.Errno) bool {
	m.t.Helper()
	if traceModel {
		fmt.Println(op, "->", err)
	}
	if want == 0 {
		require.NoError(m.t, err, op)
		m.ops[strings.Fields(op)[0]]++
		return true
	}
	requireErrno(m.t, err, want, op)
	m.errs[want]++
	return false
}

func (m *model) step() {
	switch r := m.rng.IntN(100); {
	case r < 14:
		m.create()
	case r < 20:
		m.mkdir()
	case r < 23:
		m.mknod()
	case r < 27:
		m.symlink()
	case r < 33:
		m.link()
	case r < 43:
		m.unlink()
	case r < 48:
		m.rmdir()
	case r < 60:
		m.rename()
	case r < 72:
		m.write()
	case r < 76:
		m.truncate()
	case r < 80:
		m.punch()
	case r < 86:
		m.xattr()
	case r < 90:
		m.chmod()
	case r < 96:
		m.openClose()
	default:
		require.NoError(m.t, m.tf.Sync())
	}
}

func (m *model) newNode(a Attr, mode uint32) *mNode {
	require.Equal(m.t, mode, a.Mode)
	if traceModel {
		fmt.Println("  new inode", a.Ino)
	}
	n := &mNode{ino: a.Ino, mode: mode, nlink: 1, xattrs: map[string][]byte{}}
	if n.isDir() {
		n.entries = map[string]*mNode{}
	}
	require.Nil(m.t, m.byIno[a.Ino], "inode number %d reused", a.Ino)
	m.byIno[a.Ino] = n
	return n
}

func (m *model) createErr(dir uint64, name string) syscall.Errno {
	e := first(nameErr(name), m.dirErr(dir))
	if e == 0 && m.byIno[dir].entries[name] != nil {
		e = syscall.EEXIST
	}
	return e
}

func (m *model) create() {
	dir, name := m.dir(), m.name()
	a, err := m.tf.Create(dir, name, 0o644, Creator{})
	if m.check(fmt.Sprintf("create %d %q", dir, name), err, m.createErr(dir, name)) {
		m.byIno[dir].entries[name] = m.newNode(a, syscall.S_IFREG|0o644)
	}
}

func (m *model) mkdir() {
	dir, name := m.dir(), m.name()
	a, err := m.tf.Mkdir(dir, name, 0o750, Creator{})
	if m.check(fmt.Sprintf("mkdir %d %q", dir, name), err, m.createErr(dir, name)) {
		m.byIno[dir].entries[name] = m.newNode(a, syscall.S_IFDIR|0o750|m.byIno[dir].mode&syscall.S_ISGID) // setgid is inherited
	}
}

func (m *model) mknod() {
	dir, name := m.dir(), m.name()
	types := []uint32{syscall.S_IFIFO, syscall.S_IFCHR, syscall.S_IFBLK, syscall.S_IFSOCK}
	mode := types[m.rng.IntN(len(types))] | 0o600
	rdev := uint32(0)
	if mode&syscall.S_IFMT == syscall.S_IFCHR || mode&syscall.S_IFMT == syscall.S_IFBLK {
		rdev = m.rng.Uint32() &^ 0xfff00000 // 12-bit major, 20-bit minor
	}
	a, err := m.tf.Mknod(dir, name, mode, rdev, Creator{})
	if m.check(fmt.Sprintf("mknod %d %q", dir, name), err, m.createErr(dir, name)) {
		n := m.newNode(a, mode)
		n.rdev = rdev
		require.Equal(m.t, rdev, a.Rdev)
		m.byIno[dir].entries[name] = n
	}
}

func (m *model) symlink() {
	dir, name := m.dir(), m.name()
	target := strings.Repeat("t/", 1+m.rng.IntN(3)) + m.name()
	if m.rng.IntN(10) == 0 {
		target = strings.Repeat("x", 4000+m.rng.IntN(200))
	}
	want := m.createErr(dir, name)
	if want == 0 && len(target) > 4095 {
		want = syscall.ENAMETOOLONG
	}
	if len(target) > 4095 && nameErr(name) == 0 {
		want = syscall.ENAMETOOLONG // the target is checked first
	}
	a, err := m.tf.Symlink(dir, name, target, Creator{})
	if m.check(fmt.Sprintf("symlink %d %q", dir, name), err, want) {
		n := m.newNode(a, syscall.S_IFLNK|0o777)
		n.target = target
		m.byIno[dir].entries[name] = n
	}
}

func (m *model) link() {
	src := m.pick(func(n *mNode) bool { return n.nlink > 0 })
	dir, name := m.dir(), m.name()
	want := first(nameErr(name), m.dirErr(dir))
	if want == 0 {
		switch {
		case src.isDir():
			want = syscall.EPERM
		case m.byIno[dir].entries[name] != nil:
			want = syscall.EEXIST
		}
	}
	a, err := m.tf.Link(src.ino, dir, name)
	if m.check(fmt.Sprintf("link %d %d %q", src.ino, dir, name), err, want) {
		src.nlink++
		require.EqualValues(m.t, src.nlink, a.Nlink)
		m.byIno[dir].entries[name] = src
	}
}

// dropLink removes one link of n; the last one deletes it unless open.
func (m *model) dropLink(n *mNode) {
	n.nlink--
	if n.isDir() {
		n.nlink = 0
	}
	if n.nlink == 0 && n.open == 0 {
		delete(m.byIno, n.ino)
	}
}

func (m *model) removeErr(dir uint64, name string, wantDir bool) syscall.Errno {
	want := first(nameErr(name), m.dirErr(dir))
	if want != 0 {
		return want
	}
	n := m.byIno[dir].entries[name]
	switch {
	case n == nil:
		return syscall.ENOENT
	case wantDir && !n.isDir():
		return syscall.ENOTDIR
	case !wantDir && n.isDir():
		return syscall.EISDIR
	case wantDir && len(n.entries) > 0:
		return syscall.ENOTEMPTY
	}
	return 0
}

// existing returns a name in dir, mostly one that exists (of a
// directory, when dirs is set).
func (m *model) existing(dir uint64, dirs bool) string {
	d := m.byIno[dir]
	if d == nil || !d.isDir() || m.rng.IntN(4) == 0 {
		return m.name()
	}
	var c []string
	for _, name := range slices.Sorted(maps.Keys(d.entries)) {
		if !dirs || d.entries[name].isDir() {
			c = append(c, name)
		}
	}
	if len(c) == 0 {
		return m.name()
	}
	return c[m.rng.IntN(len(c))]
}

func (m *model) unlink() {
	dir := m.dir()
	name := m.existing(dir, false)
	err := m.tf.Unlink(dir, name)
	if m.check(fmt.Sprintf("unlink %d %q", dir, name), err, m.removeErr(dir, name, false)) {
		n := m.byIno[dir].entries[name]
		delete(m.byIno[dir].entries, name)
		m.dropLink(n)
	}
}

func (m *model) rmdir() {
	dir := m.dir()
	name := m.existing(dir, true)
	err := m.tf.Rmdir(dir, name)
	if m.check(fmt.Sprintf("rmdir %d %q", dir, name), err, m.removeErr(dir, name, true)) {
		n := m.byIno[dir].entries[name]
		delete(m.byIno[dir].entries, name)
		m.dropLink(n)
	}
}

// below reports whether directory d is a or below it.
func (m *model) below(a, d *mNode) bool {
	if a == d {
		return true
	}
	for _, c := range a.entries {
		if c.isDir() && m.below(c, d) {
			return true
		}
	}
	return false
}

func (m *model) renameErr(od uint64, on string, nd uint64, nn string, flags uint32) syscall.Errno {
	if e := first(nameErr(on), nameErr(nn), m.dirErr(od), m.dirErr(nd)); e != 0 {
		return e
	}
	src, dst := m.byIno[od].entries[on], m.byIno[nd].entries[nn]
	switch {
	case src == nil:
		return syscall.ENOENT
	case flags == RenameExchange && dst == nil:
		return syscall.ENOENT
	case flags == RenameNoReplace && dst != nil:
		return syscall.EEXIST
	case dst == src:
		return 0
	}
	if dst != nil && flags != RenameExchange {
		switch {
		case src.isDir() && !dst.isDir():
			return syscall.ENOTDIR
		case !src.isDir() && dst.isDir():
			return syscall.EISDIR
		case dst.isDir() && len(dst.entries) > 0:
			return syscall.ENOTEMPTY
		}
	}
	if od != nd && src.isDir() && m.below(src, m.byIno[nd]) {
		return syscall.EINVAL
	}
	if od != nd && flags == RenameExchange && dst.isDir() && m.below(dst, m.byIno[od]) {
		return syscall.EINVAL
	}
	return 0
}

func (m *model) rename() {
	od, nd := m.dir(), m.dir()
	on, nn := m.existing(od, false), m.name()
	flags := []uint32{0, 0, 0, RenameNoReplace, RenameExchange}[m.rng.IntN(5)]
	want := m.renameErr(od, on, nd, nn, flags)
	err := m.tf.Rename(od, on, nd, nn, flags)
	if !m.check(fmt.Sprintf("rename %d %q %d %q %d", od, on, nd, nn, flags), err, want) {
		return
	}
	src, dst := m.byIno[od].entries[on], m.byIno[nd].entries[nn]
	switch {
	case src == dst:
	case flags == RenameExchange:
		m.byIno[od].entries[on], m.byIno[nd].entries[nn] = dst, src
	default:
		delete(m.byIno[od].entries, on)
		m.byIno[nd].entries[nn] = src
		if dst != nil {
			m.dropLink(dst)
		}
	}
}

// file returns a regular file (or now and then something else).
func (m *model) file() (*mNode, syscall.Errno) {
	n := m.pick(nil)
	if m.rng.IntN(8) != 0 {
		if f := m.pick((*mNode).isReg); f != nil {
			n = f
		}
	}
	switch {
	case n.isReg():
		return n, 0
	case n.isDir():
		return n, syscall.EISDIR
	}
	return n, syscall.EINVAL
}

func (m *model) write() {
	n, want := m.file()
	off := m.rng.IntN(256 << 10)
	if m.rng.IntN(3) == 0 {
		off = len(n.data) // append
	}
	p := randBytes(m.rng, 1+m.rng.IntN(64<<10))
	got, err := m.tf.Write(n.ino, p, uint64(off))
	if m.check(fmt.Sprintf("write %d %d+%d", n.ino, off, len(p)), err, want) {
		require.Equal(m.t, len(p), got)
		if end := off + len(p); end > len(n.data) {
			n.data = append(n.data, make([]byte, end-len(n.data))...)
		}
		copy(n.data[off:], p)
	}
}

func (m *model) truncate() {
	n, want := m.file()
	size := uint64(m.rng.IntN(300 << 10))
	_, err := m.tf.SetAttr(n.ino, SetAttrIn{Size: &size})
	if m.check(fmt.Sprintf("truncate %d %d", n.ino, size), err, want) {
		if size < uint64(len(n.data)) {
			n.data = n.data[:size]
		} else {
			n.data = append(n.data, make([]byte, size-uint64(len(n.data)))...)
		}
	}
}

func (m *model) punch() {
	n, want := m.file()
	if want == syscall.EINVAL {
		want = syscall.ENODEV
	}
	off, length := uint64(m.rng.IntN(300<<10)), uint64(1+m.rng.IntN(100<<10))
	err := m.tf.Fallocate(n.ino, FallocPunchHole|FallocKeepSize, off, length)
	if m.check(fmt.Sprintf("punch %d %d+%d", n.ino, off, length), err, want) && off < uint64(len(n.data)) {
		clear(n.data[off:min(uint64(len(n.data)), off+length)])
	}
}

func (m *model) xattr() {
	n := m.pick(nil)
	if w := m.pick(func(n *mNode) bool { return len(n.xattrs) > 0 }); w != nil && m.rng.IntN(2) == 0 {
		n = w
	}
	name := []string{"user.a", "user.b", "trusted.c"}[m.rng.IntN(3)]
	if m.rng.IntN(2) == 0 {
		v := randBytes(m.rng, m.rng.IntN(300))
		flags := []uint32{0, XattrCreate, XattrReplace}[m.rng.IntN(3)]
		_, has := n.xattrs[name]
		var want syscall.Errno
		switch {
		case has && flags == XattrCreate:
			want = syscall.EEXIST
		case !has && flags == XattrReplace:
			want = syscall.ENODATA
		}
		if m.check(fmt.Sprintf("setxattr %d %q", n.ino, name), m.tf.SetXattr(n.ino, name, v, flags), want) {
			n.xattrs[name] = v
		}
		return
	}
	want := syscall.ENODATA
	if _, has := n.xattrs[name]; has {
		want = 0
	}
	if m.check(fmt.Sprintf("removexattr %d %q", n.ino, name), m.tf.RemoveXattr(n.ino, name), want) {
		delete(n.xattrs, name)
	}
}

func (m *model) chmod() {
	n := m.pick(nil)
	mode := uint32(m.rng.IntN(0o10000))
	a, err := m.tf.SetAttr(n.ino, SetAttrIn{Mode: &mode})
	if m.check(fmt.Sprintf("chmod %d", n.ino), err, 0) {
		n.mode = n.mode&syscall.S_IFMT | mode
		require.Equal(m.t, n.mode, a.Mode)
	}
}

func (m *model) openClose() {
	if n := m.pick(func(n *mNode) bool { return n.open > 0 }); n != nil && m.rng.IntN(2) == 0 {
		require.NoError(m.t, m.tf.ReleaseFile(n.ino))
		n.open--
		if n.open == 0 && n.nlink == 0 {
			delete(m.byIno, n.ino)
		}
		m.ops["release"]++
		return
	}
	n := m.pick(func(n *mNode) bool { return n.nlink > 0 })
	require.NoError(m.t, m.tf.OpenFile(n.ino))
	n.open++
	m.ops["open"]++
}

// reopen closes the filesystem (checking the image) and opens it again:
// inodes open with nlink 0 are orphans, deleted by the open.
func (m *model) reopen() {
	m.tf.reopen()
	for ino, n := range m.byIno {
		n.open = 0
		if n.nlink == 0 {
			delete(m.byIno, ino)
		}
	}
	m.ops["reopen"]++
}

// verify walks the filesystem from the root and compares it with the
// model; every live inode must be reachable (or open with nlink 0).
func (m *model) verify() {
	t := m.t
	seen := map[uint64]bool{}
	var walk func(n *mNode)
	walk = func(n *mNode) {
		if seen[n.ino] {
			return
		}
		seen[n.ino] = true
		m.verifyNode(n)
		if !n.isDir() {
			return
		}
		got := m.tf.names(n.ino)
		require.Equal(t, len(n.entries), len(got), "entries of %d: %v", n.ino, slices.Collect(maps.Keys(got)))
		for name, c := range n.entries {
			e, ok := got[name]
			require.True(t, ok, "%q in %d", name, n.ino)
			require.Equal(t, c.ino, e.Ino, "%q in %d", name, n.ino)
			require.Equal(t, c.mode&syscall.S_IFMT, e.Mode, "%q in %d", name, n.ino)
			a, err := m.tf.Lookup(n.ino, name)
			require.NoError(t, err)
			require.Equal(t, c.ino, a.Ino)
			if c.isDir() {
				p, err := m.tf.Parent(c.ino)
				require.NoError(t, err)
				require.Equal(t, n.ino, p, "parent of %d", c.ino)
			}
			walk(c)
		}
	}
	walk(m.byIno[RootIno])
	for ino, n := range m.byIno {
		if !seen[ino] {
			var in []uint64
			for _, d := range m.byIno {
				for _, c := range d.entries {
					if c == n {
						in = append(in, d.ino)
					}
				}
			}
			require.Zero(t, n.nlink, "inode %d unreachable (named in %v)", ino, in)
			m.verifyNode(n)
		}
	}
}

func (m *model) verifyNode(n *mNode) {
	t := m.t
	a, err := m.tf.GetAttr(n.ino)
	require.NoError(t, err)
	require.Equal(t, n.mode, a.Mode, "mode of %d", n.ino)
	require.EqualValues(t, n.nlink, a.Nlink, "nlink of %d", n.ino)
	require.Equal(t, n.rdev, a.Rdev)
	switch {
	case n.isDir():
		size := 0
		for name := range n.entries {
			size += 2 * len(name)
		}
		require.EqualValues(t, size, a.Size, "size of directory %d: model %v", n.ino, slices.Collect(maps.Keys(n.entries)))
	case n.isReg():
		require.EqualValues(t, len(n.data), a.Size, "size of %d", n.ino)
		got := m.tf.readAll(n.ino)
		require.True(t, bytes.Equal(n.data, got), "content of %d", n.ino)
	case n.mode&syscall.S_IFMT == syscall.S_IFLNK:
		got, err := m.tf.Readlink(n.ino)
		require.NoError(t, err)
		require.Equal(t, n.target, got)
	}
	names, err := m.tf.ListXattr(n.ino)
	require.NoError(t, err)
	require.ElementsMatch(t, slices.Collect(maps.Keys(n.xattrs)), names, "xattrs of %d", n.ino)
	for k, v := range n.xattrs {
		got, err := m.tf.GetXattr(n.ino, k)
		require.NoError(t, err)
		require.True(t, bytes.Equal(v, got))
	}
}

func TestModel(t *testing.T) {
	t.Parallel()
	tf := newTestFS(t)
	m := newModel(t, tf, testRand(t))
	const batches, perBatch = 12, 150
	for b := 0; b < batches; b++ {
		for range perBatch {
			m.step()
		}
		m.verify()
		if b%4 == 3 {
			m.reopen()
			m.verify()
		}
	}
	t.Logf("operations: %v; errors: %v", m.ops, m.errs)
	for _, op := range []string{"create", "mkdir", "mknod", "symlink", "link", "unlink", "rmdir", "rename", "write", "truncate", "punch", "setxattr", "removexattr"} {
		require.Positive(t, m.ops[op], "no successful %s", op)
	}
	for _, e := range []syscall.Errno{syscall.ENOENT, syscall.EEXIST, syscall.ENOTDIR, syscall.EISDIR, syscall.ENOTEMPTY, syscall.ENAMETOOLONG, syscall.ENODATA} {
		require.Positive(t, m.errs[e], "no %v", e)
	}
}
