package tests

// The filesystems the throughput benchmarks (fsbench_test.go) compare: the
// kernel's btrfs on a loop-mounted image, cowfs mounted through FUSE in this
// process, and cowfs driven through the fs API. Each starts from an image
// made by `cowfs mkfs` of the same size in the same directory, and can be
// remounted with cold caches for the read benchmarks.

import (
	"cowfs/testmount"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/fs"
	"cowfs/fsck"
	"cowfs/fuse"
)

// needFuseMount skips (fails under CI) unless this process can serve a
// FUSE mount.
func needFuseMount(tb testing.TB) {
	tb.Helper()
	switch {
	case os.Geteuid() != 0:
		oracleUnavailable(tb, "not root: cannot mount FUSE")
	case !fileExists("/dev/fuse"):
		oracleUnavailable(tb, "/dev/fuse missing: cannot mount FUSE")
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// fsbenchMkfs makes a fresh image of size bytes at dir/name with the cowfs
// binary bin (`cowfs mkfs --size SIZE IMAGE`: a sparse file) and removes
// it at cleanup.
func fsbenchMkfs(tb testing.TB, bin, dir, name string, size int64) string {
	tb.Helper()
	img := filepath.Join(dir, name)
	os.Remove(img)
	r := runCmd(tb, bin, "mkfs", "--size", strconv.FormatInt(size, 10), img)
	require.Equal(tb, 0, r.Code, "cowfs mkfs %s: %s%s", img, r.Stdout, r.Stderr)
	tb.Cleanup(func() { os.Remove(img) })
	return img
}

// dropCaches writes back the filesystem that holds img (syncfs: never a
// global sync, which would commit a parallel test's mounts) and drops the
// kernel's page cache, dentries and inodes (echo 3 >
// /proc/sys/vm/drop_caches): the next read comes from the disk, through
// every layer (btrfs, the loop device's backing file, a FUSE mount's page
// cache).
func dropCaches(tb testing.TB, img string) {
	tb.Helper()
	require.NoError(tb, testmount.Sync(filepath.Dir(img)))
	require.NoError(tb, os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0), "drop_caches (root needed)")
}

// mountedDir is a filesystem mounted on a directory, driven with ordinary
// system calls: the kernel's btrfs, or cowfs through FUSE.
type mountedDir interface {
	Root() string
	// Sync commits everything written so far and waits for it.
	Sync(tb testing.TB)
	// Remount unmounts, drops the kernel's caches and mounts again: the
	// next reads start cold.
	Remount(tb testing.TB)
	// Close unmounts (for cowfs: the final commit, then fsck).
	Close(tb testing.TB)
}

// kernelDir is the image loop-mounted by the kernel's btrfs (`mount -o
// loop`, default options).
type kernelDir struct {
	img, mnt string
	umount   func()
}

func mountKernel(tb testing.TB, img string) *kernelDir {
	tb.Helper()
	mnt, umount := mountImage(tb, img, false)
	return &kernelDir{img: img, mnt: mnt, umount: umount}
}

func (k *kernelDir) Root() string { return k.mnt }

// Sync is syncfs(2) on the mount: btrfs commits its transaction.
func (k *kernelDir) Sync(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, testmount.Sync(k.mnt))
}

func (k *kernelDir) Remount(tb testing.TB) {
	tb.Helper()
	k.umount()
	dropCaches(tb, k.img)
	k.mnt, k.umount = mountImage(tb, k.img, false)
}

func (k *kernelDir) Close(tb testing.TB) {
	tb.Helper()
	k.umount()
}

// fuseDir is a cowfs image opened with fs.Open and mounted through FUSE in
// this process (fuse.Mount, default options: no direct_io, no writeback
// cache, 1 MiB max write).
type fuseDir struct {
	img, mnt string
	opts     fs.Options
	f        *fs.FS
	srv      *fuse.Server
}

func mountFuse(tb testing.TB, img string, opts fs.Options) *fuseDir {
	tb.Helper()
	mnt := filepath.Join(tb.TempDir(), "mnt")
	require.NoError(tb, os.Mkdir(mnt, 0o755))
	d := &fuseDir{img: img, mnt: mnt, opts: opts}
	d.mount(tb)
	tb.Cleanup(func() {
		if d.srv != nil {
			d.unmount(tb)
		}
	})
	return d
}

func (d *fuseDir) mount(tb testing.TB) {
	tb.Helper()
	f, err := fs.Open(d.img, d.opts)
	require.NoError(tb, err, "fs.Open %s", d.img)
	srv, err := fuse.Mount(f, d.mnt, fuse.Options{})
	if err != nil {
		f.Close()
	}
	require.NoError(tb, err, "fuse.Mount %s", d.mnt)
	d.f, d.srv = f, srv
}

// unmount detaches the mount (waiting for its users, as unmount does for
// loop mounts) and closes the filesystem: its final commit.
func (d *fuseDir) unmount(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, testmount.Retry(d.mnt, d.srv.Unmount), "unmount %s", d.mnt)
	d.srv.Wait()
	d.srv = nil
	require.NoError(tb, d.f.Close(), "close %s", d.img)
}

func (d *fuseDir) Root() string { return d.mnt }

// Sync is the cowfs sync ioctl on the mount's root (`cowfs sync`): the
// kernel's sync(2) and syncfs(2) never reach a FUSE daemon.
func (d *fuseDir) Sync(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, syncIoctl(d.mnt))
}

func (d *fuseDir) Remount(tb testing.TB) {
	tb.Helper()
	d.unmount(tb)
	dropCaches(tb, d.img)
	d.mount(tb)
}

func (d *fuseDir) Close(tb testing.TB) {
	tb.Helper()
	d.unmount(tb)
	checkCowfsImage(tb, d.img)
}

// apiFS is a cowfs image opened with fs.Open, driven by its methods.
type apiFS struct {
	img  string
	opts fs.Options
	f    *fs.FS
}

func openAPI(tb testing.TB, img string, opts fs.Options) *apiFS {
	tb.Helper()
	a := &apiFS{img: img, opts: opts}
	a.open(tb)
	tb.Cleanup(func() {
		if a.f != nil {
			a.f.Close()
		}
	})
	return a
}

func (a *apiFS) open(tb testing.TB) {
	tb.Helper()
	f, err := fs.Open(a.img, a.opts)
	require.NoError(tb, err, "fs.Open %s", a.img)
	a.f = f
}

func (a *apiFS) close(tb testing.TB) {
	tb.Helper()
	f := a.f
	a.f = nil
	require.NoError(tb, f.Close(), "close %s", a.img)
}

// Remount closes (the final commit), drops the kernel's caches and opens
// again: cowfs's cache starts empty.
func (a *apiFS) Remount(tb testing.TB) {
	tb.Helper()
	a.close(tb)
	dropCaches(tb, a.img)
	a.open(tb)
}

func (a *apiFS) Close(tb testing.TB) {
	tb.Helper()
	a.close(tb)
	checkCowfsImage(tb, a.img)
}

// checkCowfsImage runs cowfs fsck and, when installed, btrfs check on an
// image cowfs has closed (untimed): a benchmark must not measure a broken
// filesystem.
func checkCowfsImage(tb testing.TB, img string) {
	tb.Helper()
	dev, err := disk.OpenFile(img, disk.FileOptions{ReadOnly: true})
	require.NoError(tb, err)
	rep, err := fsck.Check(dev, fsck.Options{})
	dev.Close()
	require.NoError(tb, err, "fsck %s", img)
	require.True(tb, rep.Clean(), "cowfs fsck %s:\n%s", img, rep.Summary())
	if _, err := exec.LookPath("btrfs"); err == nil {
		btrfsCheck(tb, img)
	}
}

// ---- the anchor's sides (BenchmarkFSAnchor, TestAnchorThroughMount) ----

// kernelAnchor is the kernel's btrfs as issue 13 measured it: `mkfs.btrfs
// -n 16384 -m single` on an image, attached to a loop device with direct
// I/O, mounted with commit=300 (its timer never fires within a run). It is
// mounted twice: the first mount creates the UUID tree in a commit of its
// own, in the background, which must not fall into a run.
type kernelAnchor struct {
	loop, mnt string
}

func newKernelAnchor(tb testing.TB, dir string, size int64) *kernelAnchor {
	tb.Helper()
	img := filepath.Join(dir, "kernel-anchor.img")
	require.NoError(tb, os.WriteFile(img, nil, 0o644))
	require.NoError(tb, os.Truncate(img, size))
	tb.Cleanup(func() { os.Remove(img) })
	r := runCmd(tb, "mkfs.btrfs", "-q", "-f", "-n", "16384", "-m", "single", img)
	require.Equal(tb, 0, r.Code, "mkfs.btrfs: %s", r.Stderr)
	r = runCmd(tb, "losetup", "--direct-io=on", "--find", "--show", img)
	require.Equal(tb, 0, r.Code, "losetup: %s", r.Stderr)
	k := &kernelAnchor{loop: strings.TrimSpace(r.Stdout), mnt: filepath.Join(tb.TempDir(), "mnt")}
	tb.Cleanup(func() { runCmd(tb, "losetup", "-d", k.loop) })
	require.NoError(tb, os.Mkdir(k.mnt, 0o755))
	k.mount(tb)
	unmount(tb, k.mnt)
	k.mount(tb)
	tb.Cleanup(func() { unmount(tb, k.mnt) })
	return k
}

func (k *kernelAnchor) mount(tb testing.TB) {
	tb.Helper()
	r := runCmd(tb, "mount", "-o", "commit=300", k.loop, k.mnt)
	require.Equal(tb, 0, r.Code, "mount %s: %s\n%s", k.loop, r.Stderr, dmesgTail())
}

func (k *kernelAnchor) Root() string { return k.mnt }

// Sync is syncfs(2): btrfs commits.
func (k *kernelAnchor) Sync() error {
	f, err := os.Open(k.mnt)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

func (k *kernelAnchor) Generation() (uint64, error) { return superGeneration(k.loop) }

// Written is the loop device's sectors written (/sys/block/loopN/stat).
func (k *kernelAnchor) Written() (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(k.loop), "stat"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 7 {
		return 0, fmt.Errorf("%s stat: %q", k.loop, b)
	}
	sectors, err := strconv.ParseUint(f[6], 10, 64)
	return sectors * 512, err
}

func (k *kernelAnchor) PeakRSS() (uint64, error) { return 0, nil }

// superGeneration reads the newest superblock of a device or image with
// O_DIRECT (what is on the disk, not in a page cache).
func superGeneration(path string) (uint64, error) {
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true, AllowWriter: true})
	if err != nil {
		return 0, err
	}
	defer dev.Close()
	sb, err := checker.ReadSuper(dev)
	if err != nil {
		return 0, err
	}
	return sb.Generation, nil
}

// cowfsAnchor is `cowfs mount` run as its own process (the daemon's RSS
// and I/O are its own) with --commit-interval 300s, like the kernel's
// commit=300, and otherwise the defaults.
type cowfsAnchor struct {
	bin, img string
	d        *mountDaemon
}

func newCowfsAnchor(tb testing.TB, bin, dir string, size int64, flags ...string) *cowfsAnchor {
	tb.Helper()
	img := fsbenchMkfs(tb, bin, dir, "cowfs-anchor.img", size)
	c := &cowfsAnchor{bin: bin, img: img}
	c.d = startDaemon(tb, bin, img, newMountpoint(tb), append([]string{"--commit-interval", "300s"}, flags...)...)
	return c
}

func (c *cowfsAnchor) Root() string { return c.d.mnt }

func (c *cowfsAnchor) Sync() error { return syncIoctl(c.d.mnt) }

func (c *cowfsAnchor) Generation() (uint64, error) { return superGeneration(c.img) }

// Written is the daemon's write_bytes (/proc/PID/io): its O_DIRECT writes.
func (c *cowfsAnchor) Written() (uint64, error) {
	return procField(c.d.cmd.Process.Pid, "io", "write_bytes:", 1)
}

// PeakRSS is the daemon's VmHWM (/proc/PID/status).
func (c *cowfsAnchor) PeakRSS() (uint64, error) {
	return procField(c.d.cmd.Process.Pid, "status", "VmHWM:", 1024)
}

// close unmounts (the final commit) and checks the image.
func (c *cowfsAnchor) close(tb testing.TB) {
	tb.Helper()
	c.d.umount()
	checkCowfsImage(tb, c.img)
}

// procField reads the number after name in /proc/PID/file, times unit.
func procField(pid int, file, name string, unit uint64) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			n, err := strconv.ParseUint(f[1], 10, 64)
			return n * unit, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/%s has no %s", pid, file, name)
}

// syncIoctl is what `cowfs sync` does on a mount's root: syncfs(2), which
// writes the kernel's cached dirty pages to the daemon (writeback cache),
// then the cowfs sync ioctl, which commits.
func syncIoctl(mnt string) error {
	f, err := os.Open(mnt)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", mnt, err)
	}
	var pid [8]byte
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fuse.SyncIoctl, uintptr(unsafe.Pointer(&pid))); errno != 0 {
		return fmt.Errorf("sync ioctl on %s: %w", mnt, errno)
	}
	return nil
}

// daemonDir is `cowfs mount` run as its own process with flags, as users
// run it (BenchmarkFSPath); Remount stops it, drops the kernel's caches
// and starts it again.
type daemonDir struct {
	bin, img string
	flags    []string
	d        *mountDaemon
}

func newDaemonDir(tb testing.TB, bin, img string, flags []string) *daemonDir {
	tb.Helper()
	d := &daemonDir{bin: bin, img: img, flags: flags}
	d.d = startDaemon(tb, bin, img, newMountpoint(tb), flags...)
	return d
}

func (d *daemonDir) Root() string { return d.d.mnt }

func (d *daemonDir) Sync(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, syncIoctl(d.d.mnt))
}

func (d *daemonDir) Remount(tb testing.TB) {
	tb.Helper()
	d.d.umount()
	dropCaches(tb, d.img)
	d.d = startDaemon(tb, d.bin, d.img, d.d.mnt, d.flags...)
}

func (d *daemonDir) Close(tb testing.TB) {
	tb.Helper()
	d.d.umount()
	checkCowfsImage(tb, d.img)
}
