package disk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireInUse requires err to be an InUseError naming path and the
// holder pid, and holding mode ("read-write" or "read-only").
func requireInUse(t *testing.T, err error, path string, pid int, mode string) {
	t.Helper()
	require.ErrorIs(t, err, ErrInUse)
	var iu *InUseError
	require.True(t, errors.As(err, &iu), "%v", err)
	require.Equal(t, path, iu.Path)
	require.Equal(t, pid, iu.Holder.PID, "%v", err)
	require.Contains(t, err.Error(), fmt.Sprintf("%s is in use: pid %d", path, pid))
	require.Contains(t, err.Error(), "open "+mode)
}

// TestLockOneWriter: a read-write open excludes every other open of the
// image, even one with Create and Size, which must not resize it; a
// reader is refused unless it allows a writer, and then names it. Closing
// releases the lock.
func TestLockOneWriter(t *testing.T) {
	dir := t.TempDir()
	w := openTemp(t, dir, testSize, FileOptions{})
	path := w.Path()
	_, err := OpenFile(path, FileOptions{})
	requireInUse(t, err, path, os.Getpid(), "read-write")
	_, err = OpenFile(path, FileOptions{Create: true, Size: testSize / 2})
	requireInUse(t, err, path, os.Getpid(), "read-write")
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, int64(testSize), st.Size(), "the refused open truncated the image")
	_, err = OpenFile(path, FileOptions{ReadOnly: true})
	requireInUse(t, err, path, os.Getpid(), "read-write")

	r, err := OpenFile(path, FileOptions{ReadOnly: true, AllowWriter: true})
	require.NoError(t, err)
	require.NotNil(t, r.Writer())
	require.Equal(t, os.Getpid(), r.Writer().PID)
	require.True(t, r.Writer().Writes)
	require.NoError(t, r.Close())

	require.NoError(t, w.Close())
	w2, err := OpenFile(path, FileOptions{})
	require.NoError(t, err, "closing released the lock")
	require.NoError(t, w2.Close())
}

// TestLockReaders: readers share an image and see no writer; a writer is
// refused while one reads, naming it as a reader.
func TestLockReaders(t *testing.T) {
	w := openTemp(t, t.TempDir(), testSize, FileOptions{})
	path := w.Path()
	require.NoError(t, w.Close())
	r1, err := OpenFile(path, FileOptions{ReadOnly: true})
	require.NoError(t, err)
	defer r1.Close()
	r2, err := OpenFile(path, FileOptions{ReadOnly: true, AllowWriter: true})
	require.NoError(t, err)
	defer r2.Close()
	require.Nil(t, r2.Writer())
	_, err = OpenFile(path, FileOptions{})
	requireInUse(t, err, path, os.Getpid(), "read-only")
	_, err = OpenFile(path, FileOptions{AllowWriter: true})
	require.ErrorContains(t, err, "read-only open")
}

// holdEnv makes the test binary a helper process that opens the image
// named by the variable read-write, says "locked" and waits to be killed.
const holdEnv = "COWFS_DISK_TEST_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		if _, err := OpenFile(path, FileOptions{}); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		select {}
	}
	os.Exit(m.Run())
}

// TestLockKilledHolder: the lock of a process killed with SIGKILL goes
// with it. While it lives, an open names its pid.
func TestLockKilledHolder(t *testing.T) {
	w := openTemp(t, t.TempDir(), testSize, FileOptions{})
	path := w.Path()
	require.NoError(t, w.Close())
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), holdEnv+"="+path)
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = OpenFile(path, FileOptions{})
	requireInUse(t, err, path, child.Process.Pid, "read-write")
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	require.Error(t, child.Wait())
	f, err := OpenFile(path, FileOptions{})
	require.NoError(t, err, "a killed holder left its lock")
	require.NoError(t, f.Close())
}

func TestParseLockLine(t *testing.T) {
	for _, c := range []struct {
		line string
		ok   bool
		want lockEntry
	}{
		{"1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF", true, lockEntry{pid: 1234, writes: true, dev: "08:01", ino: 5678}},
		{"2: FLOCK  ADVISORY  READ 77 00:2e:12 0 EOF", true, lockEntry{pid: 77, dev: "00:2e", ino: 12}},
		{"2: -> FLOCK  ADVISORY  WRITE 78 00:2e:12 0 EOF", false, lockEntry{}},
		{"3: OFDLCK ADVISORY  WRITE -1 00:2e:12 0 EOF", false, lockEntry{}},
		{"4: POSIX  ADVISORY  WRITE 99 00:2e:12 0 EOF", false, lockEntry{}},
		{"", false, lockEntry{}},
	} {
		got, ok := parseLockLine(c.line)
		require.Equal(t, c.ok, ok, c.line)
		if ok {
			require.Equal(t, c.want, got, c.line)
		}
	}
}

// TestLockHolderOtherDevice: a lock whose device number differs from
// stat's (a btrfs subvolume) is the file's only if its process has the
// file open.
func TestLockHolderOtherDevice(t *testing.T) {
	w := openTemp(t, t.TempDir(), testSize, FileOptions{})
	st, err := w.file.Stat()
	require.NoError(t, err)
	ino := st.Sys().(*syscall.Stat_t).Ino
	self := lockEntry{pid: os.Getpid(), dev: "ff:ff", ino: ino}
	require.True(t, self.on(st), "this process has it open")
	other := lockEntry{pid: os.Getppid(), dev: "ff:ff", ino: ino}
	require.False(t, other.on(st), "the parent does not have it open")
	require.False(t, lockEntry{pid: os.Getpid(), dev: "ff:ff", ino: ino + 1}.on(st))
}

// TestLoopMount: an image backing a mounted loop device is the kernel's:
// a writer is refused for any mount, a reader only minds a read-write
// one. sysfs and mountinfo are stand-ins here; tests/ has the real one.
func TestLoopMount(t *testing.T) {
	dir := t.TempDir()
	w := openTemp(t, dir, testSize, FileOptions{})
	path := w.Path()
	require.NoError(t, w.Close())
	fakeKernel(t, dir, path, "rw,relatime")
	_, err := OpenFile(path, FileOptions{})
	require.ErrorIs(t, err, ErrInUse)
	require.ErrorContains(t, err, path+" is in use: the kernel has it mounted on /mnt/k (through /dev/loop7)")
	r, err := OpenFile(path, FileOptions{ReadOnly: true, AllowWriter: true})
	require.NoError(t, err)
	require.Contains(t, r.Writer().String(), "mounted on /mnt/k")
	require.NoError(t, r.Close())

	fakeKernel(t, dir, path, "ro,relatime")
	_, err = OpenFile(path, FileOptions{})
	require.ErrorIs(t, err, ErrInUse, "a read-only kernel mount caches what a writer would change")
	r, err = OpenFile(path, FileOptions{ReadOnly: true})
	require.NoError(t, err, "readers share with a read-only mount")
	require.NoError(t, r.Close())

	require.NoError(t, os.WriteFile(mountInfo, nil, 0o644))
	r, err = OpenFile(path, FileOptions{})
	require.NoError(t, err, "attached but not mounted")
	require.NoError(t, r.Close())
}

// fakeKernel points sysBlock and mountInfo at files under dir saying
// that loop7, backed by img, is mounted on /mnt/k with opts.
func fakeKernel(t *testing.T, dir, img, opts string) {
	loop := filepath.Join(dir, "sys", "loop7", "loop")
	require.NoError(t, os.MkdirAll(loop, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(loop, "backing_file"), []byte(img+"\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sys", "vda"), 0o755))
	info := strings.Join([]string{
		"22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw",
		"95 22 7:7 / /mnt/k " + opts + " shared:50 - btrfs /dev/loop7 rw,space_cache=v2,subvolid=5,subvol=/",
	}, "\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mountinfo"), []byte(info+"\n"), 0o644))
	oldSys, oldInfo := sysBlock, mountInfo
	sysBlock, mountInfo = filepath.Join(dir, "sys"), filepath.Join(dir, "mountinfo")
	t.Cleanup(func() { sysBlock, mountInfo = oldSys, oldInfo })
}
