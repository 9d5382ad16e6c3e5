package disk

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testSize = 1 << 20

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: from the clock)")

// openTemp creates a sparse image of size bytes in dir.
func openTemp(t *testing.T, dir string, size int64, opts FileOptions) *FileDevice {
	t.Helper()
	opts.Create, opts.Size = true, size
	f, err := OpenFile(filepath.Join(dir, "img"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// fdFlags reads the open flags of f's descriptor from /proc/self/fdinfo.
func fdFlags(t *testing.T, f *FileDevice) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f.file.Fd()))
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			require.NoError(t, err)
			return int(n)
		}
	}
	t.Fatal("no flags line in fdinfo")
	return 0
}

func TestFileDirect(t *testing.T) {
	f := openTemp(t, t.TempDir(), testSize, FileOptions{})
	require.True(t, f.Direct(), "t.TempDir() is on ext4, which takes O_DIRECT")
	require.NotZero(t, fdFlags(t, f)&syscall.O_DIRECT, "O_DIRECT set on the descriptor")
	require.Equal(t, int64(testSize), f.Size())

	st, err := os.Stat(f.Path())
	require.NoError(t, err)
	require.Equal(t, int64(testSize), st.Size())
	require.Less(t, st.Sys().(*syscall.Stat_t).Blocks, int64(16), "sparse")
	require.NoError(t, f.Close())

	b, err := OpenFile(f.Path(), FileOptions{Buffered: true})
	require.NoError(t, err)
	defer b.Close()
	require.False(t, b.Direct())
	require.Zero(t, fdFlags(t, b)&syscall.O_DIRECT)
}

func TestFileRoundtripReopen(t *testing.T) {
	dir := t.TempDir()
	f := openTemp(t, dir, testSize, FileOptions{})
	p := bytes.Repeat([]byte("cowfs!"), 5000)
	require.NoError(t, f.WriteDurable(p, 12345, KindData))
	require.NoError(t, f.Close())

	ro, err := OpenFile(filepath.Join(dir, "img"), FileOptions{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	got := make([]byte, len(p))
	require.NoError(t, ro.ReadAt(got, 12345, KindData))
	require.Equal(t, p, got)
	require.ErrorIs(t, ro.WriteAt(p[:10], 0, KindData), ErrReadOnly)
}

// devices returns the Device implementations under test, all testSize long.
func devices(t *testing.T) map[string]Device {
	dir := t.TempDir()
	return map[string]Device{
		"mem":      NewMemDevice(testSize),
		"direct":   openTemp(t, dir, testSize, FileOptions{}),
		"buffered": openTemp(t, t.TempDir(), testSize, FileOptions{Buffered: true}),
	}
}

// TestDeviceRandomIO checks random reads and writes, aligned or not, with
// buffers at odd addresses, against a byte-slice model.
func TestDeviceRandomIO(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed)", seed)
	for name, dev := range devices(t) {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			model := make([]byte, testSize)
			for range 300 {
				randomIO(t, rng, dev, model)
			}
			whole := make([]byte, testSize)
			require.NoError(t, dev.ReadAt(whole, 0, KindMeta))
			require.True(t, bytes.Equal(model, whole), "device differs from model")
		})
	}
}

func randomIO(t *testing.T, rng *rand.Rand, dev Device, model []byte) {
	n := rng.IntN(3 * blockSize)
	off := rng.Int64N(int64(len(model) - n))
	if rng.IntN(2) == 0 { // aligned range
		n = (n/blockSize + 1) * blockSize
		off = off &^ (blockSize - 1)
		off = min(off, int64(len(model)-n))
	}
	shift := rng.IntN(2) * (1 + rng.IntN(511)) // odd buffer address half the time
	buf := make([]byte, n+shift+blockSize)[shift : shift+n]
	if rng.IntN(2) == 0 {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		require.NoError(t, dev.WriteAt(buf, off, KindData))
		copy(model[off:], buf)
		return
	}
	require.NoError(t, dev.ReadAt(buf, off, KindData))
	require.Equal(t, model[off:off+int64(n)], buf, "read %d at %d", n, off)
}

func TestDeviceOutOfRange(t *testing.T) {
	for name, dev := range devices(t) {
		t.Run(name, func(t *testing.T) {
			p := make([]byte, 100)
			for _, off := range []int64{-1, testSize - 99, testSize, 1 << 40} {
				require.ErrorIs(t, dev.ReadAt(p, off, KindData), ErrOutOfRange, "read at %d", off)
				require.ErrorIs(t, dev.WriteAt(p, off, KindData), ErrOutOfRange, "write at %d", off)
			}
			require.NoError(t, dev.ReadAt(p, testSize-100, KindData))
			require.NoError(t, dev.WriteAt(nil, testSize, KindData))
			require.NoError(t, dev.ReadAt(nil, 3, KindData))
		})
	}
}

func TestFileErrorMessage(t *testing.T) {
	f := openTemp(t, t.TempDir(), testSize, FileOptions{})
	require.NoError(t, f.file.Close()) // make the next read fail in the kernel
	err := f.ReadAt(make([]byte, 16384), 4096, KindMeta)
	want := fmt.Sprintf("read 16384 bytes at 4096 of %s: %v", f.Path(), fs.ErrClosed)
	require.EqualError(t, err, want)
	err = f.ReadAt(make([]byte, 10), testSize, KindMeta)
	require.ErrorContains(t, err, f.Path()+": I/O beyond end of device")
}

func TestFileConcurrentUnalignedWrites(t *testing.T) {
	f := openTemp(t, t.TempDir(), testSize, FileOptions{})
	var wg sync.WaitGroup
	const n = 512
	for g := range 8 { // each goroutine owns bytes g, g+8, g+16... of block 1
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				require.NoError(t, f.WriteAt([]byte{byte(g + 1)}, blockSize+int64(i), KindData))
			}
		})
	}
	wg.Wait()
	got := make([]byte, n)
	require.NoError(t, f.ReadAt(got, blockSize, KindData))
	for i, b := range got {
		require.Equal(t, byte(i%8+1), b, "byte %d", i)
	}
}

func TestFileStats(t *testing.T) {
	f := openTemp(t, t.TempDir(), testSize, FileOptions{})
	require.NoError(t, f.WriteAt(make([]byte, 100), 1, KindMeta))
	require.NoError(t, f.ReadAt(make([]byte, 8192), 0, KindData))
	require.NoError(t, f.WriteDurable(make([]byte, 4096), 0, KindSuper))
	s := f.Stats()
	require.Equal(t, uint64(100), s.WriteBytes[KindMeta])
	require.Equal(t, uint64(8192), s.ReadBytes[KindData])
	require.Equal(t, uint64(1), s.WriteOps[KindSuper])
	require.Equal(t, uint64(1), s.Flushes)
}

func TestFileOptions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odd")
	require.NoError(t, os.WriteFile(path, make([]byte, 10000), 0o644))
	f, err := OpenFile(path, FileOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(8192), f.Size(), "rounded down to whole blocks")
	require.NoError(t, f.Close())

	for _, o := range []FileOptions{{Size: 4096}, {Size: -1, Create: true}, {ReadOnly: true, Create: true}} {
		_, err := OpenFile(path, o)
		require.Error(t, err, "%+v", o)
	}
	_, err = OpenFile(filepath.Join(dir, "missing"), FileOptions{})
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = OpenFile(dir, FileOptions{ReadOnly: true})
	require.Error(t, err, "a directory is no device")
}

// einvalDirect is an opener for a filesystem that refuses O_DIRECT.
func einvalDirect(name string, _ int, _ os.FileMode) (*os.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EINVAL}
}

// captureNote resets the once-per-process note and captures it.
func captureNote(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	bufferedNote, noteOut = sync.Once{}, &buf
	t.Cleanup(func() { noteOut = os.Stderr })
	return &buf
}

func TestFileFallbackNoteOnce(t *testing.T) {
	note := captureNote(t)
	dir := t.TempDir()
	for i := range 2 {
		path := filepath.Join(dir, fmt.Sprint(i))
		f, err := openFile(path, FileOptions{Create: true, Size: testSize}, einvalDirect)
		require.NoError(t, err)
		require.False(t, f.Direct())
		require.Zero(t, fdFlags(t, f)&syscall.O_DIRECT)
		require.NoError(t, f.WriteDurable([]byte("x"), 3, KindData))
		require.NoError(t, f.Close())
	}
	require.Equal(t, 1, strings.Count(note.String(), "\n"), "one line: %q", note)
	require.Contains(t, note.String(), filepath.Join(dir, "0"))
	require.Contains(t, note.String(), "fdatasync")
}

// On kernels before 6.6 tmpfs refuses O_DIRECT and OpenFile falls back;
// newer ones accept it. Either way the device works and notes at most once.
func TestFileOnShm(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "cowfs-disk-test")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	note := captureNote(t)
	f := openTemp(t, dir, testSize, FileOptions{})
	t.Logf("tmpfs O_DIRECT: %v", f.Direct())
	require.Equal(t, f.Direct(), fdFlags(t, f)&syscall.O_DIRECT != 0)
	if f.Direct() {
		require.Empty(t, note.String())
	} else {
		require.Equal(t, 1, strings.Count(note.String(), "\n"))
	}
	require.NoError(t, f.WriteDurable([]byte("hello"), 4095, KindData))
	got := make([]byte, 5)
	require.NoError(t, f.ReadAt(got, 4095, KindData))
	require.Equal(t, "hello", string(got))
}

// TestFileBlockDevice opens a loop device, whose size comes from seeking.
func TestFileBlockDevice(t *testing.T) {
	img := filepath.Join(t.TempDir(), "img")
	require.NoError(t, os.WriteFile(img, nil, 0o644))
	require.NoError(t, os.Truncate(img, 2*testSize))
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skip("no loop device:", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })

	f, err := OpenFile(loop, FileOptions{})
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, int64(2*testSize), f.Size())
	require.NoError(t, f.WriteDurable([]byte("block"), 7, KindData))
	got := make([]byte, 5)
	require.NoError(t, f.ReadAt(got, 7, KindData))
	require.Equal(t, "block", string(got))

	// Held read-write (O_EXCL and the lock): another writer is refused
	// with EBUSY from the open, naming this process; a reader may share
	// it only if it allows a writer.
	_, err = OpenFile(loop, FileOptions{})
	requireInUse(t, err, loop, os.Getpid(), "read-write")
	_, err = OpenFile(loop, FileOptions{ReadOnly: true})
	requireInUse(t, err, loop, os.Getpid(), "read-write")
	r, err := OpenFile(loop, FileOptions{ReadOnly: true, AllowWriter: true})
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), r.Writer().PID)
	require.NoError(t, r.Close())
	require.NoError(t, f.Close())

	_, err = OpenFile(loop, FileOptions{Create: true, Size: testSize})
	require.ErrorContains(t, err, "block device")
}
