package data

// Test harness: a cowfs mkfs image file, files created in its root
// directory with the items btrfs-format.md §2.7 requires (INODE_ITEM,
// INODE_REF, DIR_ITEM, DIR_INDEX, the directory's size), each file's
// content kept in a byte-slice model, and the oracles run at cleanup: our
// fsck, btrfs check (original mode with --check-data-csum, and lowmem),
// and a read-only kernel mount reading every file. The external oracles
// are skipped loudly without btrfs-progs, root or loop devices, and fail
// instead when CI is set.

import (
	"bytes"
	"cowfs/testmount"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/mkfs"
	"cowfs/transaction"
)

var (
	seedFlag = flag.Uint64("data.seed", 0, "seed of the randomized data tests (0: time-based)")
	opsFlag  = flag.Int("data.ops", 160, "operations per run of TestRandomOps (soak: more)")
)

// testSeed returns the seed of a randomized test and logs how to rerun it.
func testSeed(t *testing.T) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun: go test ./fs/data -run '^%s$' -data.seed=%d)", seed, t.Name(), seed)
	return seed
}

// mfile is one file of the model.
type mfile struct {
	ino       uint64
	name      string
	content   []byte // the file's bytes; len is i_size
	nbytes    uint64 // as the INODE_ITEM holds it
	nodatasum bool
	keepSize  bool // allocated past its size: extents may lie there
}

func (m *mfile) size() uint64 { return uint64(len(m.content)) }

type harness struct {
	t     *testing.T
	path  string
	fs    *transaction.FS
	files *Files
	model map[uint64]*mfile
	// nextIno and nextIndex are the next inode number and dir index of the
	// root directory; dirSize its i_size.
	nextIno, nextIndex, dirSize uint64
}

// newHarness makes a cowfs image of size bytes and opens it. At cleanup,
// unless the test failed, the image is closed and the oracles run.
func newHarness(t *testing.T, size int64, nodesize uint32) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.img")
	dev, err := disk.OpenFile(path, disk.FileOptions{Create: true, Size: size})
	require.NoError(t, err)
	o := mkfs.DefaultOptions()
	o.NodeSize = nodesize
	_, err = mkfs.Make(dev, o)
	require.NoError(t, err)
	require.NoError(t, dev.Close())
	h := &harness{t: t, path: path, model: map[uint64]*mfile{}, nextIno: 257, nextIndex: 2}
	h.open()
	t.Cleanup(func() {
		if t.Failed() {
			if h.fs != nil {
				_ = h.fs.Close()
			}
			return
		}
		h.close()
		h.oracles()
	})
	return h
}

func (h *harness) open() {
	opts := transaction.DefaultOptions()
	opts.CommitInterval = -1
	fs, err := transaction.OpenFile(h.path, opts)
	require.NoError(h.t, err)
	root, err := fs.Tree(format.FSTreeObjectID)
	require.NoError(h.t, err)
	h.fs, h.files = fs, New(fs, root)
}

func (h *harness) close() {
	if h.fs != nil {
		require.NoError(h.t, h.fs.Close())
		h.fs, h.files = nil, nil
	}
}

// reopen closes (committing) and opens the image again.
func (h *harness) reopen() {
	h.close()
	h.open()
}

func (h *harness) commit() { require.NoError(h.t, h.fs.Commit()) }

// start begins a handle for items items.
func (h *harness) start(items int) *transaction.Handle {
	th, err := h.fs.Start(items)
	require.NoError(h.t, err)
	return th
}

func (h *harness) end(th *transaction.Handle) { require.NoError(h.t, th.End()) }

// create makes a regular file name in the root directory.
func (h *harness) create(name string, nodatasum bool) *mfile {
	th := h.start(6)
	defer h.end(th)
	root := h.files.Root()
	ino, idx, tid := h.nextIno, h.nextIndex, th.Transid()
	h.nextIno++
	h.nextIndex++
	now := time.Now()
	ts := format.Timespec{Sec: uint64(now.Unix()), Nsec: uint32(now.Nanosecond())}
	inode := format.InodeItem{Generation: tid, Transid: tid, Nlink: 1, Mode: 0o100644,
		Atime: ts, Ctime: ts, Mtime: ts, Otime: ts}
	if nodatasum {
		inode.Flags = format.InodeNoDataSum
	}
	entry := format.DirItem{{Location: format.Key{ObjectID: ino, Type: format.InodeItemKey},
		Transid: tid, Type: format.FtRegFile, Name: []byte(name)}}
	items := []struct {
		key  format.Key
		data []byte
	}{
		{format.Key{ObjectID: ino, Type: format.InodeItemKey}, inode.Encode()},
		{format.Key{ObjectID: ino, Type: format.InodeRefKey, Offset: format.FirstFreeObjectID},
			format.InodeRefItem{{Index: idx, Name: []byte(name)}}.Encode()},
		{format.Key{ObjectID: format.FirstFreeObjectID, Type: format.DirItemKey, Offset: format.NameHash([]byte(name))}, entry.Encode()},
		{format.Key{ObjectID: format.FirstFreeObjectID, Type: format.DirIndexKey, Offset: idx}, entry.Encode()},
	}
	for _, it := range items {
		require.NoError(h.t, ctree.InsertItem(th, root, it.key, it.data))
	}
	h.dirSize += 2 * uint64(len(name))
	h.setInode(th, format.FirstFreeObjectID, func(in *format.InodeItem) { in.Size = h.dirSize })
	f := &mfile{ino: ino, name: name, nodatasum: nodatasum}
	h.model[ino] = f
	return f
}

// remove unlinks f: its extents (DropAll), inode and names.
func (h *harness) remove(f *mfile) {
	th := h.start(h.dropItems(f, 0, math.MaxUint64) + 6)
	defer h.end(th)
	root := h.files.Root()
	require.NoError(h.t, h.files.DropAll(th, f.ino))
	for _, k := range []format.Key{
		{ObjectID: f.ino, Type: format.InodeItemKey},
		{ObjectID: f.ino, Type: format.InodeRefKey, Offset: format.FirstFreeObjectID},
		{ObjectID: format.FirstFreeObjectID, Type: format.DirItemKey, Offset: format.NameHash([]byte(f.name))},
	} {
		require.NoError(h.t, ctree.DeleteItem(th, root, k))
	}
	it := root.Scan(format.Key{ObjectID: format.FirstFreeObjectID, Type: format.DirIndexKey},
		format.Key{ObjectID: format.FirstFreeObjectID, Type: format.DirIndexKey + 1})
	var index format.Key
	for it.Next() {
		d, err := format.DecodeDirItem(it.Item().Data)
		require.NoError(h.t, err)
		if d[0].Location.ObjectID == f.ino {
			index = it.Item().Key
		}
	}
	require.NoError(h.t, it.Err())
	require.NotZero(h.t, index.Offset, "dir index of %d", f.ino)
	require.NoError(h.t, ctree.DeleteItem(th, root, index))
	h.dirSize -= 2 * uint64(len(f.name))
	h.setInode(th, format.FirstFreeObjectID, func(in *format.InodeItem) { in.Size = h.dirSize })
	delete(h.model, f.ino)
}

// setInode edits the INODE_ITEM of ino in place.
func (h *harness) setInode(th *transaction.Handle, ino uint64, edit func(*format.InodeItem)) {
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(th, h.files.Root(), format.Key{ObjectID: ino, Type: format.InodeItemKey}, &p, 0, true)
	require.NoError(h.t, err)
	require.True(h.t, found, "inode %d", ino)
	in, err := format.DecodeInodeItem(p.ItemData())
	require.NoError(h.t, err)
	edit(in)
	in.Transid = th.Transid()
	copy(p.ItemData(), in.Encode())
}

// applied records an operation's result: nbytes and size in the INODE_ITEM.
func (h *harness) applied(th *transaction.Handle, f *mfile, delta int64, size uint64) {
	f.nbytes = uint64(int64(f.nbytes) + delta)
	h.setInode(th, f.ino, func(in *format.InodeItem) { in.Size, in.Nbytes = size, f.nbytes })
}

// dropItems is Files.DropItems for f's range.
func (h *harness) dropItems(f *mfile, start, end uint64) int {
	n, err := h.files.DropItems(f.ino, start, end)
	require.NoError(h.t, err)
	return n
}

func grow(b []byte, n uint64) []byte {
	if uint64(len(b)) >= n {
		return b
	}
	return append(b, make([]byte, n-uint64(len(b)))...)
}

func (h *harness) write(f *mfile, off uint64, data []byte) {
	th := h.start(h.files.WriteItems(len(data)) + 1)
	defer h.end(th)
	d, err := h.files.Write(th, f.ino, off, data, f.size(), f.nodatasum)
	require.NoError(h.t, err, "write %d bytes at %d to %d (size %d)", len(data), off, f.ino, f.size())
	f.content = grow(f.content, off+uint64(len(data)))
	copy(f.content[off:], data)
	h.applied(th, f, d, f.size())
}

func (h *harness) truncate(f *mfile, size uint64) {
	th := h.start(h.dropItems(f, size, math.MaxUint64) + 1)
	defer h.end(th)
	d, err := h.files.Truncate(th, f.ino, f.size(), size, f.nodatasum)
	require.NoError(h.t, err, "truncate %d from %d to %d", f.ino, f.size(), size)
	if size < f.size() {
		f.content = f.content[:size]
	}
	f.content = grow(f.content, size)
	h.applied(th, f, d, size)
}

func (h *harness) punch(f *mfile, off, length uint64) {
	th := h.start(h.dropItems(f, off, off+length) + 1)
	defer h.end(th)
	d, err := h.files.PunchHole(th, f.ino, off, length, f.size(), f.nodatasum)
	require.NoError(h.t, err, "punch [%d, +%d) of %d (size %d)", off, length, f.ino, f.size())
	if off < f.size() {
		clear(f.content[off:min(off+length, f.size())])
	}
	h.applied(th, f, d, f.size())
}

func (h *harness) allocate(f *mfile, off, length uint64) {
	th := h.start(h.files.WriteItems(int(length)) + 1)
	defer h.end(th)
	d, err := h.files.Allocate(th, f.ino, off, length, f.size(), f.nodatasum)
	require.NoError(h.t, err, "allocate [%d, +%d) of %d (size %d)", off, length, f.ino, f.size())
	f.content = grow(f.content, off+length)
	h.applied(th, f, d, f.size())
}

// allocateKeepSize is fallocate with FALLOC_FL_KEEP_SIZE: extents may
// lie past the size.
func (h *harness) allocateKeepSize(f *mfile, off, length uint64) {
	th := h.start(h.files.WriteItems(int(length)) + 1)
	defer h.end(th)
	d, err := h.files.Allocate(th, f.ino, off, length, f.size(), f.nodatasum)
	require.NoError(h.t, err, "allocate (keep size) [%d, +%d) of %d (size %d)", off, length, f.ino, f.size())
	f.keepSize = true
	h.applied(th, f, d, f.size())
}

// extentsOf returns every file extent of ino.
func (h *harness) extentsOf(ino uint64) []fileExtent {
	exts, err := h.files.extents(ino, 0, ^uint64(0))
	require.NoError(h.t, err)
	return exts
}

// verify reads f whole and compares it with the model, then checks its
// extents (verifyExtents).
func (h *harness) verify(f *mfile, rng *rand.Rand) {
	got := make([]byte, f.size()+100)
	n, _ := h.files.ReadAt(f.ino, got, 0, f.size(), f.nodatasum)
	require.Equal(h.t, len(f.content), n, "bytes read from %d", f.ino)
	requireSameBytes(h.t, f.content, got[:n], "file %d", f.ino)
	h.verifyRange(f, rng, 0, 0)
}

// verifyRange reads [lo, hi) of f widened by 8 KiB each way, and a random
// range, compares them with the model, and checks f's extents: in order,
// not overlapping, within the size's last sector, an inline extent alone
// at 0, nbytes their sum.
func (h *harness) verifyRange(f *mfile, rng *rand.Rand, lo, hi uint64) {
	t := h.t
	lo, hi = max(lo, 8192)-8192, hi+8192
	ranges := [][2]uint64{{lo, hi}}
	if f.size() > 0 {
		off := rng.Uint64N(f.size())
		ranges = append(ranges, [2]uint64{off, off + 1 + rng.Uint64N(min(f.size()-off+10, 300000))})
	}
	for _, r := range ranges {
		off, l := r[0], r[1]-r[0]
		buf := make([]byte, l)
		n, err := h.files.ReadAt(f.ino, buf, int64(off), f.size(), f.nodatasum)
		want := f.content[min(off, f.size()):min(off+l, f.size())]
		require.Equal(t, len(want), n, "read [%d, +%d) of %d: %v", off, l, f.ino, err)
		requireSameBytes(t, want, buf[:n], "file %d [%d, +%d)", f.ino, off, l)
	}
	h.verifyExtents(f)
}

func (h *harness) verifyExtents(f *mfile) {
	t := h.t
	var sum, end uint64
	exts := h.extentsOf(f.ino)
	for i, e := range exts {
		require.GreaterOrEqual(t, e.off, end, "file %d extent %d overlaps", f.ino, i)
		require.Zero(t, e.off%h.files.sector)
		if e.inline() {
			require.Zero(t, e.off)
			require.Len(t, exts, 1, "file %d: inline extent beside others", f.ino)
			require.True(t, h.files.inlineOK(e.fe.RAMBytes))
		}
		end = e.end(h.files.sector)
		sum += e.nbytes()
	}
	if !f.keepSize {
		require.LessOrEqual(t, end, alignUp(f.size(), h.files.sector), "file %d: extents past the size", f.ino)
	}
	require.Equal(t, f.nbytes, sum, "file %d nbytes", f.ino)
}

func requireSameBytes(t *testing.T, want, got []byte, msg string, args ...any) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	i := 0
	for i < min(len(want), len(got)) && want[i] == got[i] {
		i++
	}
	require.FailNow(t, fmt.Sprintf(msg, args...), "differ at byte %d of %d/%d", i, len(want), len(got))
}

func (h *harness) verifyAll(rng *rand.Rand) {
	for _, f := range h.model {
		h.verify(f, rng)
	}
}

// oracles runs our fsck, btrfs check and the kernel on the closed image.
func (h *harness) oracles() {
	t := h.t
	dev, err := disk.OpenFile(h.path, disk.FileOptions{ReadOnly: true})
	require.NoError(t, err)
	rep, err := fsck.Check(dev, fsck.Options{CheckDataCsum: true})
	require.NoError(t, dev.Close())
	require.NoError(t, err)
	require.True(t, rep.Clean(), "cowfs fsck %s:\n%s", h.path, rep.Summary())
	oracleLog(t, "cowfs fsck --check-data-csum: clean")
	btrfsCheck(t, h.path)
	h.kernelReads()
}

// oracleLog notes at -v which oracles ran.
func oracleLog(t *testing.T, what string) { t.Logf("oracle: %s", what) }

// oracleUnavailable skips the rest of an oracle loudly, or fails under CI.
func oracleUnavailable(t *testing.T, reason string) bool {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: the oracles must run)", reason)
	}
	loudOnce.Do(reason, func() { fmt.Fprintf(os.Stderr, "\n*** SKIP: %s — oracle not run ***\n\n", reason) })
	return false
}

type onceSet struct{ m sync.Map }

func (s *onceSet) Do(key string, fn func()) {
	if _, seen := s.m.LoadOrStore(key, true); !seen {
		fn()
	}
}

var loudOnce onceSet

func btrfsCheck(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("btrfs"); err != nil {
		oracleUnavailable(t, "btrfs-progs not installed")
		return
	}
	for _, args := range [][]string{{"check", "--check-data-csum", path}, {"check", "--mode=lowmem", path}} {
		out, err := exec.Command("btrfs", args...).CombinedOutput()
		require.NoError(t, err, "btrfs %v:\n%s", args, out)
		require.Contains(t, string(out), "no error found", "btrfs %v:\n%s", args, out)
		require.NotContains(t, string(out), "ERROR", "btrfs %v:\n%s", args, out)
		oracleLog(t, strings.Join(args[:len(args)-1], " ")+": clean")
	}
}

var (
	mountProbe       sync.Once
	mountUnavailable string
)

// kernelReads loop-mounts the image read-only and requires the kernel to
// read every file of the model byte for byte (and list exactly them).
func (h *harness) kernelReads() {
	t := h.t
	mountProbe.Do(func() { mountUnavailable = probeMount() })
	if mountUnavailable != "" {
		oracleUnavailable(t, mountUnavailable)
		return
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	out, err := exec.Command("mount", "-o", "loop,ro", h.path, mnt).CombinedOutput()
	require.NoError(t, err, "mount: %s\n%s", out, dmesgTail())
	defer unmount(t, mnt)
	ents, err := os.ReadDir(mnt)
	require.NoError(t, err)
	require.Len(t, ents, len(h.model), "kernel listing")
	for _, f := range h.model {
		got, err := os.ReadFile(filepath.Join(mnt, f.name))
		require.NoError(t, err, "kernel read of %s (ino %d)\n%s", f.name, f.ino, dmesgTail())
		requireSameBytes(t, f.content, got, "kernel read of %s (ino %d)", f.name, f.ino)
	}
	oracleLog(t, fmt.Sprintf("kernel read %d files", len(h.model)))
}

func unmount(t *testing.T, mnt string) {
	require.NoError(t, testmount.Unmount(mnt))
}

// probeMount returns why this process cannot loop-mount btrfs, or "".
func probeMount() string {
	if os.Geteuid() != 0 {
		return "not root: cannot loop-mount images"
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return "no loop devices (/dev/loop-control missing)"
	}
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		return "mkfs.btrfs not installed (needed to probe the kernel)"
	}
	dir, err := os.MkdirTemp("", "cowfs-mount-probe")
	if err != nil {
		return err.Error()
	}
	defer os.RemoveAll(dir)
	img, mnt := filepath.Join(dir, "ref.img"), filepath.Join(dir, "mnt")
	for _, s := range [][]string{
		{"truncate", "-s", "128M", img},
		{"mkfs.btrfs", "-q", "-f", "-m", "single", "-d", "single", img},
		{"mkdir", mnt},
		{"mount", "-o", "loop,ro", img, mnt},
		{"umount", mnt},
	} {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Sprintf("kernel cannot loop-mount btrfs (%s: %v: %s)", s[0], err, strings.TrimSpace(string(out)))
		}
	}
	return ""
}

func dmesgTail() string {
	out, err := exec.Command("dmesg").Output()
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// randPool is random bytes that randBytes copies from (copying is fast
// under the race detector; generating byte by byte is not).
var randPool = func() []byte {
	b := make([]byte, 4<<20)
	_, _ = rand.NewChaCha8([32]byte{'c', 'o', 'w', 'f', 's'}).Read(b)
	return b
}()

// randBytes returns n random bytes: runs of the pool from random offsets.
func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for off := 0; off < n; {
		src := randPool[rng.IntN(len(randPool)/2):]
		off += copy(b[off:], src[:min(len(src), n-off)])
	}
	return b
}
