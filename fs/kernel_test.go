package fs

import (
	"bytes"
	"cowfs/testmount"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The kernel interchange test: a tree written through this package is
// read back byte for byte by the kernel (mount -o loop,ro); the kernel
// (rw) then writes, renames, deletes and creates; after unmount btrfs
// check and our fsck are clean, and this package opens the kernel's image
// and sees exactly what the kernel showed.

var (
	kernelProbe sync.Once
	kernelWhy   string
)

// needKernel skips loudly (fails under CI) unless this process can
// loop-mount btrfs: root, loop devices, btrfs-progs, a kernel with btrfs.
func needKernel(t *testing.T) {
	t.Helper()
	kernelProbe.Do(func() { kernelWhy = probeKernel() })
	if kernelWhy != "" {
		oracleMissing(t, "kernel oracle: "+kernelWhy)
	}
}

func probeKernel() string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("loop mounts need root (uid %d)", os.Geteuid())
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return "no loop devices"
	}
	for _, tool := range []string{"mkfs.btrfs", "btrfs", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not installed"
		}
	}
	dir, err := os.MkdirTemp("", "cowfs-probe")
	if err != nil {
		return err.Error()
	}
	defer os.RemoveAll(dir)
	img, mnt := filepath.Join(dir, "img"), filepath.Join(dir, "mnt")
	for _, s := range [][]string{{"truncate", "-s", "128M", img}, {"mkfs.btrfs", "-q", "-f", img},
		{"mkdir", mnt}, {"mount", "-o", "loop", img, mnt}, {"umount", mnt}} {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Sprintf("%v: %v: %s", s, err, bytes.TrimSpace(out))
		}
	}
	return ""
}

// mountImage loop-mounts img on a new directory; the returned function
// unmounts it (also run at cleanup).
func mountImage(t *testing.T, img string, opts string) (string, func()) {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	out, err := exec.Command("mount", "-o", "loop,"+opts, img, mnt).CombinedOutput()
	require.NoError(t, err, "mount -o loop,%s: %s", opts, out)
	var once sync.Once
	umount := func() {
		once.Do(func() { require.NoError(t, testmount.Unmount(mnt)) })
	}
	t.Cleanup(umount)
	return mnt, umount
}

// nodeInfo is what both sides must agree on for one path.
type nodeInfo struct {
	Ino          uint64
	Mode         uint32
	Nlink        uint32
	UID, GID     uint32
	Rdev         uint32
	Size         uint64
	Mtime, Ctime int64
	Sum          [32]byte // regular files: sha256 of the content
	Target       string
	Xattrs       map[string]string
}

func (n nodeInfo) String() string {
	return fmt.Sprintf("ino %d mode %#o nlink %d uid %d gid %d rdev %#x size %d mtime %d ctime %d sum %x target %q xattrs %v",
		n.Ino, n.Mode, n.Nlink, n.UID, n.GID, n.Rdev, n.Size, n.Mtime, n.Ctime, n.Sum[:4], n.Target, n.Xattrs)
}

// fsTree describes every path below the root through this package.
func fsTree(t *testing.T, f *FS) map[string]nodeInfo {
	out := map[string]nodeInfo{}
	var walk func(dir uint64, p string)
	walk = func(dir uint64, p string) {
		var ents []DirEntry
		require.NoError(t, f.ReadDir(dir, 0, func(e DirEntry) bool { ents = append(ents, e); return true }))
		for _, e := range ents {
			a, err := f.Lookup(dir, e.Name)
			require.NoError(t, err)
			require.Equal(t, e.Ino, a.Ino)
			n := nodeInfo{Ino: a.Ino, Mode: a.Mode, Nlink: a.Nlink, UID: a.UID, GID: a.GID, Rdev: a.Rdev,
				Size: a.Size, Mtime: a.Mtime.UnixNano(), Ctime: a.Ctime.UnixNano(), Xattrs: map[string]string{}}
			switch a.Mode & syscall.S_IFMT {
			case syscall.S_IFREG:
				buf := make([]byte, a.Size)
				k, err := f.Read(a.Ino, buf, 0)
				require.NoError(t, err)
				require.EqualValues(t, a.Size, k)
				n.Sum = sha256.Sum256(buf)
			case syscall.S_IFLNK:
				n.Target, err = f.Readlink(a.Ino)
				require.NoError(t, err)
			}
			names, err := f.ListXattr(a.Ino)
			require.NoError(t, err)
			for _, x := range names {
				v, err := f.GetXattr(a.Ino, x)
				require.NoError(t, err)
				n.Xattrs[x] = string(v)
			}
			out[path.Join(p, e.Name)] = n
			if a.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				walk(a.Ino, path.Join(p, e.Name))
			}
		}
	}
	walk(RootIno, "/")
	return out
}

// mountTree describes every path below a mount point, as the kernel
// shows it.
func mountTree(t *testing.T, mnt string) map[string]nodeInfo {
	out := map[string]nodeInfo{}
	require.NoError(t, filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if p == mnt {
			return nil
		}
		var st unix.Stat_t
		require.NoError(t, unix.Lstat(p, &st))
		n := nodeInfo{Ino: st.Ino, Mode: st.Mode, Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid,
			Rdev: uint32(st.Rdev), Size: uint64(st.Size), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Xattrs: map[string]string{}}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			n.Sum = sha256.Sum256(data)
		case syscall.S_IFLNK:
			n.Target, err = os.Readlink(p)
			require.NoError(t, err)
		}
		buf := make([]byte, 64<<10)
		k, err := unix.Llistxattr(p, buf)
		require.NoError(t, err)
		for _, x := range strings.Split(string(buf[:k]), "\x00") {
			if x == "" {
				continue
			}
			v := make([]byte, 64<<10)
			vn, err := unix.Lgetxattr(p, x, v)
			require.NoError(t, err)
			n.Xattrs[x] = string(v[:vn])
		}
		rel, _ := filepath.Rel(mnt, p)
		out["/"+rel] = n
		return nil
	}))
	return out
}

func requireSameTree(t *testing.T, want, got map[string]nodeInfo, what string) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		require.True(t, ok, "%s: %s missing", what, p)
		require.Equal(t, w.String(), g.String(), "%s: %s", what, p)
	}
	require.Equal(t, len(want), len(got), "%s: extra paths %v", what, extra(want, got))
}

func extra(want, got map[string]nodeInfo) []string {
	var out []string
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			out = append(out, p)
		}
	}
	return out[:min(len(out), 10)]
}

// buildTree writes the interchange tree through f.
func buildTree(t *testing.T, tf *testFS) {
	rng := testRand(t)
	root := tf.Root()
	mkdir := func(dir uint64, name string) uint64 {
		a, err := tf.Mkdir(dir, name, 0o755, Creator{})
		require.NoError(t, err)
		return a.Ino
	}
	file := func(dir uint64, name string, data []byte) uint64 {
		a, err := tf.Create(dir, name, 0o644, Creator{UID: 1000, GID: 1000})
		require.NoError(t, err)
		if len(data) > 0 {
			tf.write(a.Ino, data, 0)
		}
		return a.Ino
	}
	files := mkdir(root, "files")
	file(files, "empty", nil)
	file(files, "inline", []byte("a small file stored inline\n"))
	file(files, "sector", randBytes(rng, 4096))
	multi := file(files, "multi", nil)
	for i := 0; i < 12; i++ { // out of order and synced: many extents
		tf.write(multi, randBytes(rng, 70000), uint64((i*7)%12)*65536)
		require.NoError(t, tf.Sync())
	}
	sparse := file(files, "sparse", randBytes(rng, 10000))
	tf.write(sparse, randBytes(rng, 8000), 10<<20)
	size := uint64(20 << 20)
	_, err := tf.SetAttr(sparse, SetAttrIn{Size: &size})
	require.NoError(t, err)
	large := file(files, "large", nil)
	for off := 0; off < 40<<20; off += 1 << 20 {
		tf.write(large, randBytes(rng, 1<<20), uint64(off))
	}
	require.NoError(t, tf.Fallocate(large, FallocPunchHole|FallocKeepSize, 3<<20, 1<<20))
	links := mkdir(root, "links")
	_, err = tf.Symlink(links, "short", "../files/inline", Creator{})
	require.NoError(t, err)
	_, err = tf.Symlink(links, "long", strings.Repeat("long/", 800), Creator{})
	require.NoError(t, err)
	hard := file(links, "hard", []byte("linked three times"))
	_, err = tf.Link(hard, files, "hard2")
	require.NoError(t, err)
	_, err = tf.Link(hard, root, "hard3")
	require.NoError(t, err)
	require.NoError(t, tf.SetXattr(hard, "user.color", []byte("blue"), 0))
	require.NoError(t, tf.SetXattr(hard, "user.empty", nil, 0))
	require.NoError(t, tf.SetXattr(files, "user.dir", bytes.Repeat([]byte("x"), 3000), 0))
	require.NoError(t, tf.SetXattr(large, "trusted.t", []byte("trusted"), 0))
	dev := mkdir(root, "dev")
	for _, d := range []struct {
		name string
		mode uint32
		rdev uint32
	}{{"fifo", syscall.S_IFIFO | 0o644, 0}, {"null", syscall.S_IFCHR | 0o666, 1<<8 | 3},
		{"sda1", syscall.S_IFBLK | 0o660, 8<<8 | 1}, {"wide", syscall.S_IFCHR | 0o600, uint32(unix.Mkdev(300, 70000))},
		{"sock", syscall.S_IFSOCK | 0o755, 0}} {
		_, err := tf.Mknod(dev, d.name, d.mode, d.rdev, Creator{})
		require.NoError(t, err)
	}
	deep := mkdir(root, "deep")
	for i := 0; i < 30; i++ {
		deep = mkdir(deep, fmt.Sprintf("level%02d", i))
	}
	file(deep, "bottom", []byte("deep down"))
	big := mkdir(root, "big")
	for i := 0; i < 10000; i++ {
		file(big, fmt.Sprintf("entry-%05d-%s", i, strings.Repeat("p", i%50)), nil)
	}
	mode := uint32(0o1777)
	_, err = tf.SetAttr(big, SetAttrIn{Mode: &mode})
	require.NoError(t, err)
}

// kernelChanges changes the tree through the kernel's mount at mnt.
func kernelChanges(t *testing.T, mnt string) {
	p := func(s string) string { return filepath.Join(mnt, s) }
	require.NoError(t, os.Mkdir(p("knew"), 0o700))
	require.NoError(t, os.WriteFile(p("knew/k1"), bytes.Repeat([]byte("kernel"), 1000), 0o600))
	require.NoError(t, os.WriteFile(p("knew/tiny"), []byte("tiny"), 0o644))
	f, err := os.OpenFile(p("files/multi"), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(bytes.Repeat([]byte("append"), 2000))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	f, err = os.OpenFile(p("files/large"), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte{0xee}, 100000), 12345)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Truncate(p("files/sparse"), 1<<20))
	require.NoError(t, os.Rename(p("files/sector"), p("links/sector-moved")))
	require.NoError(t, os.Rename(p("deep/level00/level01/level02"), p("moved-deep")))
	require.NoError(t, os.Remove(p("files/hard2")))
	require.NoError(t, os.Remove(p("files/inline")))
	require.NoError(t, os.Link(p("links/hard"), p("knew/hard4")))
	for i := 0; i < 10000; i += 20 {
		matches, err := filepath.Glob(p(fmt.Sprintf("big/entry-%05d-*", i)))
		require.NoError(t, err)
		require.Len(t, matches, 1)
		require.NoError(t, os.Remove(matches[0]))
	}
	require.NoError(t, os.WriteFile(p("big/kernel-entry"), []byte("k"), 0o644))
	require.NoError(t, os.Symlink("knew/k1", p("ksym")))
	require.NoError(t, unix.Mkfifo(p("knew/kfifo"), 0o600))
	require.NoError(t, unix.Mknod(p("knew/kblk"), syscall.S_IFBLK|0o600, int(unix.Mkdev(259, 4))))
	require.NoError(t, unix.Setxattr(p("knew/k1"), "user.k", []byte("kv"), 0))
	require.NoError(t, unix.Removexattr(p("links/hard"), "user.color"))
	require.NoError(t, os.Chmod(p("files/empty"), 0o600))
	require.NoError(t, os.Chown(p("files/empty"), 42, 43))
	require.NoError(t, os.RemoveAll(p("dev")))
}

func TestKernelInterchange(t *testing.T) {
	t.Parallel()
	needKernel(t)
	tf := newTestFSOpts(t, 512<<20, testOptions())
	buildTree(t, tf)
	ours := fsTree(t, tf.FS)
	require.NoError(t, tf.Close())
	requireClean(t, tf.path)

	mnt, umount := mountImage(t, tf.path, "ro")
	requireSameTree(t, ours, mountTree(t, mnt), "kernel (ro) reading cowfs's image")
	umount()

	mnt, umount = mountImage(t, tf.path, "rw")
	kernelChanges(t, mnt)
	require.NoError(t, testmount.Sync(mnt))
	kernels := mountTree(t, mnt)
	umount()
	requireClean(t, tf.path)
	require.NotContains(t, kernels, "/files/inline")
	require.Contains(t, kernels, "/moved-deep/level03")

	tf.open()
	require.False(t, tf.ReadOnly(), "the kernel's image opens read-write")
	requireSameTree(t, kernels, fsTree(t, tf.FS), "cowfs reading the kernel's image")
	// And goes on from there.
	k1, err := tf.Lookup(mustLookup(t, tf, RootIno, "knew"), "k1")
	require.NoError(t, err)
	tf.write(k1.Ino, []byte("cowfs again"), 3)
	_, err = tf.Mkdir(RootIno, "after-kernel", 0o755, Creator{})
	require.NoError(t, err)
	require.NoError(t, tf.Rename(RootIno, "ksym", RootIno, "after-kernel", RenameExchange))
	require.NoError(t, tf.Unlink(mustLookup(t, tf, RootIno, "knew"), "hard4"))
	a, err := tf.Create(mustLookup(t, tf, RootIno, "big"), "cowfs-entry", 0o644, Creator{})
	require.NoError(t, err)
	require.Greater(t, a.Ino, k1.Ino, "new inodes after the kernel's")
	bigNames := tf.names(mustLookup(t, tf, RootIno, "big"))
	require.Contains(t, bigNames, "kernel-entry")
	require.Contains(t, bigNames, "cowfs-entry")
	require.Len(t, bigNames, 10000-10000/20+2)
}

// TestSubvolumeEntries: a subvolume the kernel made is listed, but cowfs
// does not enter, move or remove it.
func TestSubvolumeEntries(t *testing.T) {
	needKernel(t)
	img := mkfsBtrfs(t, "-m", "single", "-d", "single", "-R", "^free-space-tree")
	mnt, umount := mountImage(t, img, "rw")
	out, err := exec.Command("btrfs", "subvolume", "create", filepath.Join(mnt, "sub")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "sub", "inside"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "file"), []byte("y"), 0o644))
	umount()
	f, err := Open(img, testOptions())
	require.NoError(t, err)
	var sub DirEntry
	require.NoError(t, f.ReadDir(RootIno, 0, func(e DirEntry) bool {
		if e.Name == "sub" {
			sub = e
		}
		return true
	}))
	require.True(t, sub.Subvol)
	require.EqualValues(t, 256, sub.Ino)
	require.EqualValues(t, syscall.S_IFDIR, sub.Mode)
	_, err = f.Lookup(RootIno, "sub")
	requireErrno(t, err, syscall.EOPNOTSUPP)
	requireErrno(t, f.Rename(RootIno, "sub", RootIno, "moved", 0), syscall.EXDEV)
	requireErrno(t, f.Rename(RootIno, "file", RootIno, "sub", 0), syscall.EXDEV)
	requireErrno(t, f.Rmdir(RootIno, "sub"), syscall.EOPNOTSUPP)
	_, err = f.Mkdir(RootIno, "d", 0o755, Creator{})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	requireClean(t, img)
}
