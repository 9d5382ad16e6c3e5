package tests

// TestMountReadOnly: `cowfs mount --read-only` answers every change with
// EROFS, serves reads, and leaves the image byte for byte as it was; an
// image made by mkfs.btrfs with its defaults whose free-space tree is not
// marked valid (the kernel rebuilds such a tree at its next mount) mounts
// read-only with a warning.

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"cowfs/disk/format"
	"cowfs/fsck/fscktest"
)

// roFiles is what the read-only tests expect to find.
var roFiles = map[string]string{"a": "hello", "dir/b": "inside a directory"}

func TestMountReadOnly(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	t.Run("--read-only", func(t *testing.T) {
		img := filepath.Join(t.TempDir(), "fs.img")
		mkfsImage(t, bin, img, "256M")
		mnt := newMountpoint(t)
		d := startDaemon(t, bin, img, mnt)
		writeROFiles(t, mnt)
		require.NoError(t, unix.Lsetxattr(filepath.Join(mnt, "a"), "user.k", []byte("v"), 0))
		d.umount()
		checkReadOnlyMount(t, bin, img, mnt, "--read-only")
	})
	t.Run("mkfs.btrfs image", func(t *testing.T) {
		needBtrfsProgs(t)
		img := filepath.Join(t.TempDir(), "ref.img")
		require.NoError(t, os.WriteFile(img, nil, 0o644))
		require.NoError(t, os.Truncate(img, 256<<20))
		r := runCmd(t, "mkfs.btrfs", "-q", "-f", img)
		require.Equal(t, 0, r.Code, "mkfs.btrfs: %s", r.Stderr)
		needKernelMount(t)
		kmnt, umount := mountImage(t, img, false)
		writeROFiles(t, kmnt)
		require.NoError(t, unix.Lsetxattr(filepath.Join(kmnt, "a"), "user.k", []byte("v"), 0))
		umount()
		fscktest.PatchSuper(t, img, func(s *format.Super) { s.CompatRoFlags &^= format.CompatRoFreeSpaceTreeValid })
		d := checkReadOnlyMount(t, bin, img, newMountpoint(t))
		require.Contains(t, d.stderr.String(), "free-space tree", "the warning")
		btrfsCheck(t, img)
	})
}

func writeROFiles(t *testing.T, mnt string) {
	require.NoError(t, os.Mkdir(filepath.Join(mnt, "dir"), 0o755))
	for rel, content := range roFiles {
		require.NoError(t, os.WriteFile(filepath.Join(mnt, rel), []byte(content), 0o644))
	}
	require.NoError(t, os.Symlink("a", filepath.Join(mnt, "link")))
}

// checkReadOnlyMount mounts img with flags, requires reads to work and
// changes to fail with EROFS, unmounts, and requires the image unchanged.
func checkReadOnlyMount(t *testing.T, bin, img, mnt string, flags ...string) *mountDaemon {
	before := imageHash(t, img)
	d := startDaemon(t, bin, img, mnt, flags...)
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(mnt, &st))
	require.NotZero(t, st.Flags&unix.ST_RDONLY, "statfs flags of a read-only mount")
	for rel, content := range roFiles {
		got, err := os.ReadFile(filepath.Join(mnt, rel))
		require.NoError(t, err)
		require.Equal(t, content, string(got))
	}
	v := make([]byte, 16)
	n, err := unix.Lgetxattr(filepath.Join(mnt, "a"), "user.k", v)
	require.NoError(t, err)
	require.Equal(t, "v", string(v[:n]))
	target, err := os.Readlink(filepath.Join(mnt, "link"))
	require.NoError(t, err)
	require.Equal(t, "a", target)
	for what, err := range readOnlyChanges(mnt) {
		require.ErrorIs(t, err, syscall.EROFS, what)
	}
	require.Equal(t, 0, d.sync().Code, "cowfs sync of a read-only mount: %s", d.stderr)
	d.umount()
	require.Equal(t, before, imageHash(t, img), "a read-only mount changed the image")
	return d
}

// readOnlyChanges tries every kind of change; each must fail.
func readOnlyChanges(mnt string) map[string]error {
	p := func(rel string) string { return filepath.Join(mnt, rel) }
	openW := func(rel string, flags int) error {
		fd, err := unix.Open(p(rel), flags|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	return map[string]error{
		"create":         openW("new", unix.O_CREAT|unix.O_WRONLY),
		"open for write": openW("a", unix.O_WRONLY),
		"open O_TRUNC":   openW("a", unix.O_RDONLY|unix.O_TRUNC),
		"mkdir":          unix.Mkdir(p("newdir"), 0o755),
		"mknod":          unix.Mknod(p("fifo"), unix.S_IFIFO|0o644, 0),
		"symlink":        unix.Symlink("a", p("link2")),
		"link":           unix.Link(p("a"), p("a2")),
		"unlink":         unix.Unlink(p("a")),
		"rmdir":          unix.Rmdir(p("dir")),
		"rename":         unix.Rename(p("a"), p("dir/a")),
		"truncate":       unix.Truncate(p("a"), 0),
		"chmod":          unix.Chmod(p("a"), 0o600),
		"chown":          unix.Lchown(p("a"), 1, 1),
		"utimes":         unix.UtimesNanoAt(unix.AT_FDCWD, p("a"), []unix.Timespec{{}, {}}, 0),
		"setxattr":       unix.Lsetxattr(p("a"), "user.k2", []byte("v"), 0),
		"removexattr":    unix.Lremovexattr(p("a"), "user.k"),
	}
}

func imageHash(t *testing.T, img string) [32]byte {
	f, err := os.Open(img)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return [32]byte(h.Sum(nil))
}
