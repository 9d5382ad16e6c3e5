package fs

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/mkfs"
)

var seedFlag = flag.Uint64("fs.seed", 0, "seed of the randomized fs tests (0: time-based, printed)")

// testSeed returns the seed of a randomized test, printed so a failure
// can be replayed with -fs.seed.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -fs.seed=%d)", s, s)
	return s
}

func testRand(t *testing.T) *rand.Rand {
	s := testSeed(t)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

// testOptions: no commit timer; the default dirty threshold.
func testOptions() Options {
	o := DefaultOptions()
	o.Transaction.CommitInterval = -1
	return o
}

// newImage makes a cowfs mkfs image of size bytes; at cleanup (after the
// test closed every FS on it) our fsck and btrfs check must find it clean.
func newImage(t testing.TB, size int64) string {
	return newImageNodes(t, size, mkfs.DefaultOptions().NodeSize)
}

// newImageNodes is newImage with the given node size.
func newImageNodes(t testing.TB, size int64, nodesize uint32) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fs.img")
	dev, err := disk.OpenFile(path, disk.FileOptions{Create: true, Size: size})
	require.NoError(t, err)
	o := mkfs.DefaultOptions()
	o.NodeSize = nodesize
	_, err = mkfs.Make(dev, o)
	require.NoError(t, err)
	require.NoError(t, dev.Close())
	t.Cleanup(func() { requireClean(t, path) })
	return path
}

// testFS is an FS under test with the image it lives on.
type testFS struct {
	*FS
	t      testing.TB
	path   string
	opts   Options
	closed bool
}

// newTestFS opens a fresh 256 MiB image; the FS is closed at cleanup
// before the image is checked.
func newTestFS(t *testing.T) *testFS {
	return newTestFSOpts(t, 256<<20, testOptions())
}

func newTestFSOpts(t testing.TB, size int64, opts Options) *testFS {
	t.Helper()
	tf := &testFS{t: t, path: newImage(t, size), opts: opts}
	tf.open()
	t.Cleanup(func() {
		if !tf.closed {
			require.NoError(t, tf.Close())
		}
	})
	return tf
}

func (tf *testFS) open() {
	tf.t.Helper()
	fs, err := Open(tf.path, tf.opts)
	require.NoError(tf.t, err)
	tf.FS, tf.closed = fs, false
}

// Close closes the FS (once).
func (tf *testFS) Close() error {
	tf.closed = true
	return tf.FS.Close()
}

// reopen closes the FS, checks the image and opens it again.
func (tf *testFS) reopen() {
	tf.t.Helper()
	require.NoError(tf.t, tf.Close())
	requireClean(tf.t, tf.path)
	tf.open()
}

// requireClean runs our fsck and btrfs check (original and lowmem modes)
// on an image.
func requireClean(t testing.TB, path string) {
	t.Helper()
	if t.Failed() {
		return
	}
	if keep := os.Getenv("COWFS_KEEP_DIR"); keep != "" {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_")+".img"), data, 0o644))
	}
	// The image may be open here, synced: a test checks what it committed.
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true, AllowWriter: true})
	require.NoError(t, err)
	rep, err := fsck.Check(dev, fsck.Options{})
	dev.Close()
	require.NoError(t, err)
	require.True(t, rep.Clean(), "cowfs fsck %s:\n%s", path, rep.Summary())
	btrfsCheck(t, path)
}

// oracleMissing skips loudly (fails under CI) when an oracle cannot run.
func oracleMissing(t testing.TB, why string) {
	t.Helper()
	msg := fmt.Sprintf("SKIP: %s — oracle not run", why)
	if os.Getenv("CI") == "true" || os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: the oracles must run)", msg)
	}
	loudOnce(msg)
	t.Skip(msg)
}

var loud sync.Map

func loudOnce(msg string) {
	if _, seen := loud.LoadOrStore(msg, true); !seen {
		fmt.Fprintf(os.Stderr, "\n*** %s ***\n\n", msg)
	}
}

// btrfsCheck runs btrfs check in both modes; without btrfs-progs it prints
// a loud SKIP line (and fails under CI) but lets the test pass.
func btrfsCheck(t testing.TB, path string) {
	t.Helper()
	if _, err := exec.LookPath("btrfs"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("btrfs-progs not installed (CI is set: the oracles must run)")
		}
		loudOnce("SKIP: btrfs-progs not installed — btrfs check not run")
		return
	}
	for _, mode := range []string{"original", "lowmem"} {
		out, err := exec.Command("btrfs", "check", "--mode="+mode, path).CombinedOutput()
		require.NoError(t, err, "btrfs check --mode=%s %s:\n%s", mode, path, out)
		require.Contains(t, string(out), "no error found", "btrfs check --mode=%s:\n%s", mode, out)
		require.False(t, strings.Contains(string(out), "ERROR"), "btrfs check --mode=%s:\n%s", mode, out)
	}
}

// requireErrno requires err to wrap errno.
func requireErrno(t *testing.T, err error, errno syscall.Errno, msgAndArgs ...any) {
	t.Helper()
	if errno == 0 {
		require.NoError(t, err, msgAndArgs...)
		return
	}
	require.Error(t, err, msgAndArgs...)
	var got syscall.Errno
	require.True(t, errors.As(err, &got), "error %v wraps no errno", err)
	require.Equal(t, errno, got, "error %v: want %v", err, errno)
}

// readAll reads a whole file through the API.
func (tf *testFS) readAll(ino uint64) []byte {
	tf.t.Helper()
	a, err := tf.GetAttr(ino)
	require.NoError(tf.t, err)
	p := make([]byte, a.Size+10)
	n, err := tf.Read(ino, p, 0)
	require.NoError(tf.t, err)
	return p[:n]
}

// names lists a directory through ReadDir.
func (tf *testFS) names(dir uint64) map[string]DirEntry {
	tf.t.Helper()
	out := map[string]DirEntry{}
	require.NoError(tf.t, tf.ReadDir(dir, 0, func(e DirEntry) bool {
		_, dup := out[e.Name]
		require.False(tf.t, dup, "name %q listed twice", e.Name)
		out[e.Name] = e
		return true
	}))
	return out
}

func keyOf(objectid uint64, typ uint8, offset uint64) format.Key {
	return format.Key{ObjectID: objectid, Type: typ, Offset: offset}
}

// Forged hash collisions. NameHash and ExtrefHash are raw CRC-32C, which
// is linear: four chosen bytes after any prefix reach any 32-bit state.
// Walking back from the wanted state gives the table indices of the four
// steps (the table entries' top bytes are a permutation); walking forward
// from the prefix's state gives the bytes.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var topByteIndex = func() (inv [256]byte) {
	for i, v := range castagnoli {
		inv[v>>24] = byte(i)
	}
	return inv
}()

func forgeSuffix(from, want uint32) [4]byte {
	var idx [4]byte
	s := want
	for k := 3; k >= 0; k-- {
		idx[k] = topByteIndex[s>>24]
		s = (s ^ castagnoli[idx[k]]) << 8
	}
	var out [4]byte
	cur := from
	for k := range out {
		out[k] = byte(cur) ^ idx[k]
		cur = castagnoli[idx[k]] ^ cur>>8
	}
	return out
}

// collidingNames returns n names (printable prefix + 4 forged bytes, no
// NUL or '/') whose NameHash equals that of base.
func collidingNames(t *testing.T, base string, n int) []string {
	t.Helper()
	want := format.NameHash([]byte(base))
	var out []string
	for i := 0; len(out) < n; i++ {
		prefix := fmt.Sprintf("%s.c%d.", base, i)
		sfx := forgeSuffix(uint32(format.NameHash([]byte(prefix))), uint32(want))
		if bytes.ContainsAny(sfx[:], "\x00/") {
			continue
		}
		name := prefix + string(sfx[:])
		require.Equal(t, want, format.NameHash([]byte(name)))
		out = append(out, name)
	}
	return out
}
