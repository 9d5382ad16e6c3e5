package tests

// The driver of TestMountWorkload: operation table, seeded choices, the
// check of every result against the model's prediction.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Limits that keep a whole-tree comparison cheap.
const (
	mountMaxNodes = 300
	mountMaxBytes = 6 << 20 // file data over the whole tree
	mountMaxFile  = 4 << 20 // one file's size
	mountMaxDepth = 5
)

// mountWorkload runs random operations on a mount and on the model.
type mountWorkload struct {
	t           *testing.T
	seed        uint64
	rng         *rand.Rand
	m           *mountModel
	mnt         string
	root        bool // euid 0: devices, chown, trusted.* xattrs
	uid, gid    uint32
	umask       uint32
	nodesize    int
	pool        []byte // random bytes that writes copy from
	buf         []byte // reused by reads
	done        int
	counts      map[string]int
	errnos      int // operations that failed as the model predicted
	compares    int
	spent       map[string]time.Duration // wall time by kind of operation
	recent      []string                 // the last operations, printed on failure
	started     time.Time
	lastCompare time.Duration
	fds         map[*mnode]int
	fdOrder     []*mnode // the keys of fds, oldest first
}

// mountOp is one kind of operation.
type mountOp struct {
	name   string
	weight int
	run    func(w *mountWorkload)
}

// mountOps are the operations with their relative weights (sum 1,000).
var mountOps = []mountOp{
	{"create", 60, (*mountWorkload).opCreate},
	{"mkdir", 35, (*mountWorkload).opMkdir},
	{"mknod", 15, (*mountWorkload).opMknod},
	{"symlink", 25, (*mountWorkload).opSymlink},
	{"link", 30, (*mountWorkload).opLink},
	{"unlink", 45, (*mountWorkload).opUnlink},
	{"rmdir", 25, (*mountWorkload).opRmdir},
	{"rename", 90, (*mountWorkload).opRename},
	{"readdir", 30, (*mountWorkload).opReaddir},
	{"readlink", 15, (*mountWorkload).opReadlink},
	{"write", 200, (*mountWorkload).opWrite},
	{"read", 90, (*mountWorkload).opRead},
	{"truncate", 45, (*mountWorkload).opTruncate},
	{"fallocate", 45, (*mountWorkload).opFallocate},
	{"chmod", 25, (*mountWorkload).opChmod},
	{"chown", 20, (*mountWorkload).opChown},
	{"utimes", 25, (*mountWorkload).opUtimes},
	{"stat", 40, (*mountWorkload).opStat},
	{"setxattr", 58, (*mountWorkload).opSetxattr},
	{"getxattr", 25, (*mountWorkload).opGetxattr},
	{"listxattr", 15, (*mountWorkload).opListxattr},
	{"removexattr", 25, (*mountWorkload).opRemovexattr},
	{"fsync", 4, (*mountWorkload).opFsync},
	{"statfs", 10, (*mountWorkload).opStatfs},
	{"orphan", 3, (*mountWorkload).opOrphan},
}

func newMountWorkload(t *testing.T, seed uint64, mnt, nodesize string) *mountWorkload {
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		t.Fatal(err)
	}
	ns, _ := strconv.Atoi(strings.TrimSuffix(nodesize, "K"))
	w := &mountWorkload{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		m: newMountModel(st.Ino, st.Mode&07777), mnt: mnt, root: os.Geteuid() == 0,
		uid: uint32(os.Geteuid()), gid: uint32(os.Getegid()), umask: currentUmask(t),
		nodesize: ns << 10, counts: map[string]int{}, spent: map[string]time.Duration{}, started: time.Now(), fds: map[*mnode]int{}}
	w.m.root.uid, w.m.root.gid = st.Uid, st.Gid
	w.pool = patternContent(seed, ^uint64(0), 3<<20)
	return w
}

// currentUmask reads the umask without changing it (umask(2) would, for
// a moment, for every goroutine of the process).
func currentUmask(t *testing.T) uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			u, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(u)
		}
	}
	t.Fatal("no Umask in /proc/self/status")
	return 0
}

// run performs n operations, comparing the whole tree every
// mountCheckEvery.
func (w *mountWorkload) run(n int) {
	for range n {
		op := w.pick()
		w.timed(op.name, func() { op.run(w) })
		w.counts[op.name]++
		w.done++
		if w.done%mountCheckEvery == 0 {
			w.lastCompare = w.timed("(compare)", func() { w.compareTree(w.mnt) })
		}
		if w.done%10000 == 0 {
			w.t.Logf("%d operations, %v; last compare %v", w.done, time.Since(w.started).Round(time.Millisecond), w.lastCompare)
		}
	}
}

// pick chooses an operation by weight.
func (w *mountWorkload) pick() mountOp {
	total := 0
	for _, op := range mountOps {
		total += op.weight
	}
	r := w.rng.IntN(total)
	for _, op := range mountOps {
		if r -= op.weight; r < 0 {
			return op
		}
	}
	panic("unreachable")
}

// timed runs fn and adds its wall time to what kind has spent.
func (w *mountWorkload) timed(kind string, fn func()) time.Duration {
	start := time.Now()
	fn()
	d := time.Since(start)
	w.spent[kind] += d
	return d
}

// note records the current operation for failure messages.
func (w *mountWorkload) note(format string, args ...any) {
	s := fmt.Sprintf("%d: ", w.done) + fmt.Sprintf(format, args...)
	if len(w.recent) == 30 {
		w.recent = w.recent[1:]
	}
	w.recent = append(w.recent, s)
}

// fail stops the test with the recent operations and the seed.
func (w *mountWorkload) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("operation %d: %s\nlast operations:\n  %s\nseed %d (-mount.seed=%d), nodesize %d", w.done,
		fmt.Sprintf(format, args...), strings.Join(w.recent, "\n  "), w.seed, w.seed, w.nodesize)
}

// check compares a syscall's error with the model's prediction (0:
// success) and reports whether the call succeeded.
func (w *mountWorkload) check(err error, want syscall.Errno) bool {
	w.t.Helper()
	if want == 0 {
		if err != nil {
			w.fail("got %v, want success", err)
		}
		return true
	}
	if !errors.Is(err, want) {
		w.fail("got %v, want %v (%s)", err, want, unix.ErrnoName(want))
	}
	w.errnos++
	return false
}

// path is the absolute path of a name.
func (w *mountWorkload) path(dir *mnode, name string) string {
	return filepath.Join(w.mnt, w.m.linkPath(mlink{dir, name}))
}

// name is an entry name: mostly from a small set, so that names collide;
// sometimes up to 255 bytes long.
func (w *mountWorkload) name() string {
	if w.rng.IntN(50) == 0 {
		return w.letters(255 - w.rng.IntN(60))
	}
	return fmt.Sprintf("n%02d", w.rng.IntN(20))
}

func (w *mountWorkload) letters(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(w.rng.IntN(26))
	}
	return string(b)
}

// pickDir is a random directory; below mountMaxDepth when forNew.
func (w *mountWorkload) pickDir(forNew bool) *mnode {
	dirs := w.m.dirs()
	d := dirs[w.rng.IntN(len(dirs))]
	if forNew && d.depth() >= mountMaxDepth {
		return w.m.root
	}
	return d
}

// pickNode is a random inode that pred accepts, nil if none is found.
func (w *mountWorkload) pickNode(pred func(*mnode) bool) *mnode {
	if len(w.m.nodes) == 0 {
		return nil
	}
	for range 40 {
		if n := w.m.nodes[w.rng.IntN(len(w.m.nodes))]; pred(n) {
			return n
		}
	}
	return nil
}

// pickLink is a random name of a random inode that pred accepts.
func (w *mountWorkload) pickLink(pred func(*mnode) bool) (mlink, *mnode, bool) {
	n := w.pickNode(pred)
	if n == nil {
		return mlink{}, nil, false
	}
	return n.links[w.rng.IntN(len(n.links))], n, true
}

// pickEntry is an existing name (mostly) or a random name in a random
// directory, which may not exist.
func (w *mountWorkload) pickEntry(pred func(*mnode) bool) mlink {
	if w.rng.IntN(5) > 0 {
		if l, _, ok := w.pickLink(pred); ok {
			return l
		}
	}
	return mlink{w.pickDir(false), w.name()}
}

func anyNode(*mnode) bool     { return true }
func isRegNode(n *mnode) bool { return n.isReg() }

// full reports whether the tree has as many inodes as it may.
func (w *mountWorkload) full() bool { return len(w.m.nodes) >= mountMaxNodes }

// stat is lstat of a path, failing the workload on error.
func (w *mountWorkload) stat(p string) unix.Stat_t {
	w.t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		w.fail("lstat %s: %v", p, err)
	}
	return st
}

// created adds a new inode to the model with the identity the mount gave
// it.
func (w *mountWorkload) created(dir *mnode, name string, n *mnode) {
	w.t.Helper()
	n.ino = w.stat(w.path(dir, name)).Ino
	n.uid, n.gid = w.uid, w.gid
	w.m.add(dir, name, n)
}
