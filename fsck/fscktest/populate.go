package fscktest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/testmount"
)

// RootDir writes a directory tree for mkfs.btrfs --rootdir: n small files in
// one directory (enough to give the fs tree internal nodes), a larger file,
// a symlink and a nested directory. No root or mount needed.
func RootDir(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o755))
	for i := range n {
		name := filepath.Join(dir, "d", fmt.Sprintf("file_with_a_longish_name_%05d", i))
		must(t, os.WriteFile(name, fmt.Appendf(nil, "content %d\n", i), 0o644))
	}
	big := make([]byte, 300000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	must(t, os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644))
	must(t, os.Symlink("d/sub", filepath.Join(dir, "link")))
	return dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Populate mounts img through a loop device, runs fill on the mount point,
// and unmounts: the image is then modified by the kernel. It skips (or fails
// under CI) without root.
func Populate(t testing.TB, img string, fill func(dir string)) {
	t.Helper()
	PopulateWith(t, img, "", fill)
}

// PopulateWith is Populate with extra mount options (e.g. "compress=zlib").
func PopulateWith(t testing.TB, img, opts string, fill func(dir string)) {
	t.Helper()
	NeedMount(t)
	dir := t.TempDir()
	if opts != "" {
		opts = "," + opts
	}
	Run(t, "mount", "-o", "loop"+opts, img, dir)
	mounted := true
	defer func() {
		if mounted {
			Unmount(t, dir)
		}
	}()
	fill(dir)
	Sync(t, dir)
	Unmount(t, dir)
	mounted = false
}

// Sync commits the filesystem mounted at dir (syncfs(2), never a global
// sync: that would commit a parallel test's mount too).
func Sync(t testing.TB, dir string) {
	t.Helper()
	must(t, testmount.Sync(dir))
}

// Unmount unmounts dir, waiting for its users (testmount.Unmount).
func Unmount(t testing.TB, dir string) {
	t.Helper()
	must(t, testmount.Unmount(dir))
}

// KernelFill is a fill for Populate: directories, inline and regular files,
// a hard link, a symlink, an xattr, a preallocated file, a fifo, enough files
// for internal nodes, and a subvolume with a snapshot (blocks shared between
// trees).
func KernelFill(t testing.TB) func(dir string) {
	return func(dir string) {
		t.Helper()
		must(t, os.MkdirAll(filepath.Join(dir, "dir"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "dir", "inline.txt"), []byte("hello inline world\n"), 0o644))
		big := make([]byte, 204800)
		for i := range big {
			big[i] = byte(i*31 + i/4096)
		}
		must(t, os.WriteFile(filepath.Join(dir, "dir", "big.bin"), big, 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "small.bin"), big[:6000], 0o644))
		must(t, os.Link(filepath.Join(dir, "small.bin"), filepath.Join(dir, "dir", "hard.bin")))
		must(t, os.Symlink("dir/inline.txt", filepath.Join(dir, "link")))
		must(t, unix.Setxattr(filepath.Join(dir, "small.bin"), "user.test", []byte("value123"), 0))
		Run(t, "fallocate", "-l", "65536", filepath.Join(dir, "prealloc.bin"))
		Run(t, "mknod", filepath.Join(dir, "fifo"), "p")
		many := filepath.Join(dir, "many")
		must(t, os.MkdirAll(many, 0o755))
		for i := range 400 {
			must(t, os.WriteFile(filepath.Join(many, fmt.Sprintf("f_%d", i)), fmt.Appendf(nil, "file %d\n", i), 0o644))
		}
		Run(t, "btrfs", "subvolume", "create", filepath.Join(dir, "sub"))
		for i := range 300 {
			must(t, os.WriteFile(filepath.Join(dir, "sub", fmt.Sprintf("s_%d", i)), fmt.Appendf(nil, "s %d\n", i), 0o644))
		}
		Run(t, "btrfs", "subvolume", "snapshot", filepath.Join(dir, "sub"), filepath.Join(dir, "snap"))
		Sync(t, dir)
		must(t, os.WriteFile(filepath.Join(dir, "sub", "s_7"), []byte("changed after the snapshot\n"), 0o644))
	}
}

// PopulateWithLog mounts img with a long commit interval, runs fill (which
// should fsync what it writes), and returns a copy of the image taken while
// still mounted: its superblock points to a pending log tree. img itself is
// unmounted cleanly afterwards. A commit drops the log: the kernel's own
// (btrfs falls back to a full commit for some fsyncs) or one forced by a
// sync(2) elsewhere on the machine, which no test here calls but another
// process may. So a copy counts only if it holds a log and the image's
// superblock did not change while it was taken; otherwise fill runs again,
// in the next transaction, up to logAttempts times.
func PopulateWithLog(t testing.TB, img string, fill func(dir string)) string {
	t.Helper()
	NeedMount(t)
	dir := t.TempDir()
	Run(t, "mount", "-o", "loop,commit=600", img, dir)
	defer Unmount(t, dir)
	Sync(t, dir)
	for attempt := 1; attempt <= logAttempts; attempt++ {
		fill(dir)
		if cp, ok := copyWithLog(t, img); ok {
			return cp
		}
		t.Logf("fscktest: a commit dropped the log before the copy was complete (attempt %d)", attempt)
	}
	t.Fatalf("fscktest: no copy of %s held a log tree in %d attempts", img, logAttempts)
	return ""
}

// logAttempts bounds PopulateWithLog's retries.
const logAttempts = 8

// copyWithLog copies the mounted img and reports whether the copy holds a
// log tree and is one state: the superblock, read before and after, did not
// change (blocks the superblock references are not overwritten before a
// new superblock is written).
func copyWithLog(t testing.TB, img string) (string, bool) {
	t.Helper()
	before := superBytes(t, img)
	cp := Copy(t, img)
	var logged bool
	withImage(t, cp, func(i *fsck.Image) { logged = i.Super.LogRoot != 0 })
	return cp, logged && bytes.Equal(before, superBytes(t, img))
}

// superBytes reads img's primary superblock.
func superBytes(t testing.TB, img string) []byte {
	t.Helper()
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	b := make([]byte, format.SuperSize)
	_, err = f.ReadAt(b, format.SuperInfoOffset)
	must(t, err)
	return b
}

// LogFill writes and fsyncs two new files and renames one that exists, so
// the log holds inode, ref, extent, csum and dir-log items.
func LogFill(t testing.TB) func(dir string) {
	return func(dir string) {
		t.Helper()
		must(t, os.MkdirAll(filepath.Join(dir, "dir"), 0o755))
		writeSync(t, filepath.Join(dir, "dir", "logged.bin"), make([]byte, 5000))
		writeSync(t, filepath.Join(dir, "tiny.txt"), []byte("tiny\n"))
		for _, d := range []string{dir, filepath.Join(dir, "dir")} {
			f, err := os.Open(d)
			must(t, err)
			must(t, f.Sync())
			f.Close()
		}
	}
}

func writeSync(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	_, err = f.Write(data)
	must(t, err)
	must(t, f.Sync())
}

// ExoticFill is a fill for PopulateWith(..., "compress=zlib", ...) that
// produces the rarer item kinds: quota items, compressed extents, shared
// data extents (reflinks, many refs: keyed EXTENT_DATA_REFs), an INODE_EXTREF
// overflow, a sparse file, shared tree blocks with FULL_BACKREF and shared
// refs (a snapshot whose source is changed afterwards), and a received
// subvolume (UUID_KEY_RECEIVED_SUBVOL).
func ExoticFill(t testing.TB) func(dir string) {
	return func(dir string) {
		t.Helper()
		Run(t, "btrfs", "quota", "enable", dir)
		d := filepath.Join(dir, "d")
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, "zeros.bin"), make([]byte, 300000), 0o644))
		data := make([]byte, 100000)
		for i := range data {
			data[i] = byte(i*131 + i>>9)
		}
		must(t, os.WriteFile(filepath.Join(dir, "rand.bin"), data, 0o644))
		for i := range 40 {
			Run(t, "cp", "--reflink=always", filepath.Join(dir, "rand.bin"), filepath.Join(d, fmt.Sprintf("r_%d", i)))
		}
		must(t, os.WriteFile(filepath.Join(d, "target"), nil, 0o644))
		for i := range 330 {
			name := fmt.Sprintf("averyveryveryveryveryveryveryveryveryveryverylongname_%04d", i)
			must(t, os.Link(filepath.Join(d, "target"), filepath.Join(d, name)))
		}
		sparse, err := os.Create(filepath.Join(dir, "sparse"))
		must(t, err)
		_, err = sparse.WriteAt(data[:4096], 40960)
		must(t, err)
		must(t, sparse.Close())
		sharedSubvolume(t, dir, data)
	}
}

// sharedSubvolume makes a subvolume of 1000 incompressible files (two node
// levels with 4 KiB nodes), snapshots it read-only,
// changes the source (so shared blocks get FULL_BACKREF and shared refs), and
// sends the snapshot into a received subvolume.
func sharedSubvolume(t testing.TB, dir string, data []byte) {
	t.Helper()
	sub := filepath.Join(dir, "sub")
	Run(t, "btrfs", "subvolume", "create", sub)
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 3000)
	for i := range 1000 {
		for j := range noise {
			noise[j] = byte(rng.Uint32())
		}
		must(t, os.WriteFile(filepath.Join(sub, fmt.Sprintf("f_%d", i)), noise, 0o644))
	}
	Run(t, "btrfs", "subvolume", "snapshot", "-r", sub, filepath.Join(dir, "ro"))
	Sync(t, dir)
	for i := 0; i < 1000; i += 7 {
		must(t, os.WriteFile(filepath.Join(sub, fmt.Sprintf("f_%d", i)), []byte("changed"), 0o644))
	}
	recv := filepath.Join(dir, "recv")
	must(t, os.MkdirAll(recv, 0o755))
	send := fmt.Sprintf("btrfs send -q %q | btrfs receive %q", filepath.Join(dir, "ro"), recv)
	Run(t, "sh", "-c", send)
}

// ChurnFill is a fill for Populate that leaves the traces of churn:
// deleted files and a deleted subvolume, a truncated file, renames across
// directories, a file partly overwritten (two file extents sharing one disk
// extent at different offsets), a punched hole, a preallocated extent
// partly written (regular and prealloc pieces of one extent), and a
// NODATASUM file.
func ChurnFill(t testing.TB) func(dir string) {
	return func(dir string) {
		t.Helper()
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = byte(i*7 + i>>12)
		}
		must(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
		for i := range 50 {
			must(t, os.WriteFile(filepath.Join(dir, "a", fmt.Sprintf("f%d", i)), data[:4096*(i%5+1)], 0o644))
		}
		for i := 0; i < 50; i += 3 {
			must(t, os.Remove(filepath.Join(dir, "a", fmt.Sprintf("f%d", i))))
		}
		must(t, os.Rename(filepath.Join(dir, "a", "f1"), filepath.Join(dir, "a", "b", "moved")))
		must(t, os.WriteFile(filepath.Join(dir, "big"), data, 0o644))
		must(t, os.Truncate(filepath.Join(dir, "big"), 300000))
		must(t, os.WriteFile(filepath.Join(dir, "over"), data, 0o644))
		Sync(t, dir)
		overwrite(t, filepath.Join(dir, "over"), 409600, data[:8192])
		Run(t, "fallocate", "-p", "-o", "65536", "-l", "65536", filepath.Join(dir, "over"))
		Run(t, "fallocate", "-l", "262144", filepath.Join(dir, "pre"))
		overwrite(t, filepath.Join(dir, "pre"), 65536, data[:4096])
		must(t, os.WriteFile(filepath.Join(dir, "nocow"), nil, 0o644))
		Run(t, "chattr", "+C", filepath.Join(dir, "nocow"))
		overwrite(t, filepath.Join(dir, "nocow"), 0, data[:20000])
		Run(t, "btrfs", "subvolume", "create", filepath.Join(dir, "gone"))
		must(t, os.WriteFile(filepath.Join(dir, "gone", "x"), data[:5000], 0o644))
		Sync(t, dir)
		Run(t, "btrfs", "subvolume", "delete", filepath.Join(dir, "gone"))
	}
}

func overwrite(t testing.TB, path string, off int64, p []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt(p, off)
	must(t, err)
}

// CopyMounted mounts img, runs fill, commits (sync), and copies the image
// while it is still mounted; then calls the function fill returned (to
// close what it kept open) and unmounts. The copy is the committed state of
// a live filesystem: with an inode open but unlinked it holds an orphan
// item and nlink 0.
func CopyMounted(t testing.TB, img string, fill func(dir string) func()) string {
	t.Helper()
	NeedMount(t)
	dir := t.TempDir()
	Run(t, "mount", "-o", "loop", img, dir)
	after := fill(dir)
	Sync(t, dir)
	cp := Copy(t, img)
	if after != nil {
		after()
	}
	Unmount(t, dir)
	return cp
}

// FragmentFill is a fill for Populate: n 4 KiB files, synced, then every
// other one deleted. 3000 of them on a 512 MiB default image fragment the
// data block group until the kernel keeps its free space in bitmaps.
func FragmentFill(t testing.TB, n int) func(dir string) {
	return func(dir string) {
		t.Helper()
		buf := make([]byte, 4096)
		for i := range n {
			buf[0], buf[1] = byte(i), byte(i>>8)
			must(t, os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), buf, 0o644))
		}
		Sync(t, dir)
		for i := 0; i < n; i += 2 {
			must(t, os.Remove(filepath.Join(dir, fmt.Sprint(i))))
		}
	}
}
