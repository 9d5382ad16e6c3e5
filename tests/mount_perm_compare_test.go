package tests

// The kernel as the oracle of permission checks: one scenario of opens,
// accesses, creates, chmods, chowns, utimes, unlinks and ACL changes, run
// as an unprivileged user on a default cowfs mount (--allow-other) and on
// the kernel's btrfs mount of a cowfs image; every result must be the
// kernel's (errno, and the mode of what was created or changed).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// permHelperEnv makes the test binary run the scenario's user part in dir
// and exit (TestMain), as the child the test starts with other credentials.
const permHelperEnv = "COWFS_PERM_SCENARIO"

// permUser is who runs the scenario (nobody:nogroup).
const permUser = 65534

func TestMain(m *testing.M) {
	if dir := os.Getenv(permHelperEnv); dir != "" {
		unix.Umask(0o022)
		fmt.Print(strings.Join(permScenario(dir), "\n"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMountPermissionsLikeKernel(t *testing.T) {
	needFuse(t)
	needBtrfsProgs(t)
	needKernelMount(t)
	needACLTools(t)
	bin := buildCowfs(t)
	kimg, cimg := filepath.Join(t.TempDir(), "k.img"), filepath.Join(t.TempDir(), "c.img")
	mkfsImage(t, bin, kimg, "256M")
	mkfsImage(t, bin, cimg, "256M")
	kmnt, kumount := mountImage(t, kimg, false)
	cmnt := newMountpoint(t)
	d := startDaemon(t, bin, cimg, cmnt, "--allow-other")
	helper := reachableCopy(t, os.Args[0], kmnt, cmnt)
	want, got := runPermScenario(t, helper, kmnt), runPermScenario(t, helper, cmnt)
	require.Greater(t, len(want), 60)
	t.Logf("%d operations as user %d, %d refused by the kernel", len(want), permUser, refused(want))
	for i := range want {
		require.Equal(t, want[i], got[i], "the kernel's btrfs and cowfs differ (line %d)", i)
	}
	require.Len(t, got, len(want))
	kumount()
	d.umount()
	requireImageClean(t, bin, kimg)
	requireImageClean(t, bin, cimg)
}

// runPermScenario sets the tree up as root, then runs the user's part in a
// child with the user's credentials; it returns the child's results.
func runPermScenario(t *testing.T, helper, root string) []string {
	t.Helper()
	dir := filepath.Join(root, "perm")
	setupPermTree(t, dir)
	c := exec.Command(helper, "-test.run=^$")
	c.Env = append(os.Environ(), permHelperEnv+"="+dir)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: permUser, Gid: permUser, Groups: []uint32{permUser}}}
	out, err := c.CombinedOutput()
	require.NoError(t, err, "scenario as %d in %s:\n%s", permUser, dir, out)
	return strings.Split(string(out), "\n")
}

func refused(lines []string) int {
	n := 0
	for _, l := range lines {
		if !strings.Contains(l, ": ok") {
			n++
		}
	}
	return n
}

// reachableCopy lets the user reach the mounts (the test's temporary
// directories are 0700) and returns a copy of the test binary it may run.
func reachableCopy(t *testing.T, bin string, mnts ...string) string {
	t.Helper()
	for _, m := range mnts {
		for p := filepath.Dir(m); strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
			require.NoError(t, os.Chmod(p, 0o755))
		}
	}
	dir := filepath.Join(filepath.Dir(mnts[0]), "bin")
	require.NoError(t, os.Mkdir(dir, 0o755))
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests.test"), b, 0o755))
	return filepath.Join(dir, "tests.test")
}

// permFiles: name, mode, owner uid:gid, and an ACL to set ("" for none).
var permFiles = []struct {
	name     string
	mode     os.FileMode
	uid, gid int
	acl      string
}{
	{"f600", 0o600, 0, 0, ""}, {"f644", 0o644, 0, 0, ""}, {"f606", 0o606, 0, 0, ""}, {"f755", 0o755, 0, 0, ""},
	{"own000", 0, permUser, permUser, ""}, {"own640", 0o640, permUser, permUser, ""}, {"ownroot", 0o644, permUser, 0, ""},
	{"grp640", 0o640, 0, permUser, ""}, {"grp604", 0o604, 0, permUser, ""},
	{"acl", 0o600, 0, 0, "u:65534:rw"}, {"aclmask", 0o600, 0, 0, "u:65534:rwx,m::r"}, {"aclgrp", 0o600, 0, 0, "g:65534:r"},
	{"d700/in", 0o666, 0, 0, ""}, {"d711/in", 0o644, 0, 0, ""}, {"dsticky/root", 0o666, 0, 0, ""}, {"dacl/in", 0o644, 0, 0, ""},
}

// permDirs are made before the files, in order.
var permDirs = []struct {
	name     string
	mode     os.FileMode
	uid, acl string // acl: setfacl's arguments
}{
	{"d700", 0o700, "0", ""}, {"d711", 0o711, "0", ""}, {"d755", 0o755, "0", ""}, {"d777", 0o777, "0", ""},
	{"dsticky", 0o777 | os.ModeSticky, "0", ""}, {"dacl", 0o700, "0", "-m u:65534:rwx"},
	{"ddef", 0o777, "0", "-d -m u:65534:rwx,g::r,o::-"}, {"downed", 0o755, "65534", ""},
	{"dsgid", 0o777 | os.ModeSetgid, "0:0", ""},
}

func setupPermTree(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.Mkdir(dir, 0o755))
	for _, d := range permDirs {
		p := filepath.Join(dir, d.name)
		require.NoError(t, os.Mkdir(p, 0o700))
		sh(t, dir, fmt.Sprintf("chown %s %s && chmod %s %s", d.uid, d.name, chmodArg(d.mode), d.name))
		if d.acl != "" {
			sh(t, dir, "setfacl "+d.acl+" "+d.name)
		}
	}
	for _, f := range permFiles {
		p := filepath.Join(dir, f.name)
		require.NoError(t, os.WriteFile(p, []byte("data\n"), 0o600))
		require.NoError(t, os.Chown(p, f.uid, f.gid))
		require.NoError(t, os.Chmod(p, f.mode))
		if f.acl != "" {
			sh(t, dir, "setfacl -m "+f.acl+" "+f.name)
		}
	}
}

// chmodArg is mode in chmod's octal, special bits included.
func chmodArg(m os.FileMode) string {
	v := uint32(m.Perm())
	if m&os.ModeSticky != 0 {
		v |= 0o1000
	}
	if m&os.ModeSetgid != 0 {
		v |= 0o2000
	}
	return fmt.Sprintf("%o", v)
}

// permScenario is the user's part: one line per operation, its errno and
// (for what it creates or changes) the resulting mode.
func permScenario(dir string) []string {
	var out []string
	res := func(op, p string, err error) {
		out = append(out, fmt.Sprintf("%s %s: %v%s", op, p, errnoText(err), modeText(dir, p, err)))
	}
	for _, f := range permFiles {
		for _, fl := range []int{unix.O_RDONLY, unix.O_WRONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_TRUNC} {
			fd, err := unix.Open(filepath.Join(dir, f.name), fl, 0)
			if err == nil {
				unix.Close(fd)
			}
			res(fmt.Sprintf("open(%#o)", fl), f.name, err)
		}
		for _, m := range []uint32{unix.R_OK, unix.W_OK, unix.X_OK} {
			res(fmt.Sprintf("access(%d)", m), f.name, unix.Access(filepath.Join(dir, f.name), m))
		}
		res("utimes(now)", f.name, unix.UtimesNano(filepath.Join(dir, f.name), []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}))
		res("utimes(1)", f.name, unix.UtimesNano(filepath.Join(dir, f.name), []unix.Timespec{{Sec: 1}, {Sec: 1}}))
	}
	for _, name := range []string{"d700", "d711", "d755", "d777", "dsticky", "dacl", "ddef", "downed", "ddef/sub", "dsgid"} {
		p := filepath.Join(name, "new")
		fd, err := unix.Open(filepath.Join(dir, p), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o666)
		if err == nil {
			unix.Close(fd)
		}
		res("create", p, err)
		res("mkdir", name+"/newdir", unix.Mkdir(filepath.Join(dir, name, "newdir"), 0o777))
		res("mkfifo", name+"/fifo", unix.Mkfifo(filepath.Join(dir, name, "fifo"), 0o666))
		res("unlink", p, unix.Unlink(filepath.Join(dir, p)))
		if name == "ddef" {
			res("mkdir", "ddef/sub", unix.Mkdir(filepath.Join(dir, "ddef/sub"), 0o750))
		}
	}
	for _, c := range []struct {
		p    string
		mode uint32
	}{{"own640", 0o644}, {"f644", 0o600}, {"own640", 0o4755}, {"own640", 0o2755}, {"ownroot", 0o2755}, {"own000", 0o1644}, {"d777", 0o700}, {"downed", 0o3777}} {
		res(fmt.Sprintf("chmod(%o)", c.mode), c.p, unix.Chmod(filepath.Join(dir, c.p), c.mode))
	}
	res("chown(-1:65534)", "ownroot", unix.Chown(filepath.Join(dir, "ownroot"), -1, permUser))
	res("chown(0:-1)", "own640", unix.Chown(filepath.Join(dir, "own640"), 0, -1))
	res("chown(-1:0)", "own640", unix.Chown(filepath.Join(dir, "own640"), -1, 0))
	res("unlink", "dsticky/root", unix.Unlink(filepath.Join(dir, "dsticky/root")))
	res("unlink", "d711/in", unix.Unlink(filepath.Join(dir, "d711/in")))
	res("rename", "d777/x", unix.Rename(filepath.Join(dir, "f644"), filepath.Join(dir, "d777/x")))
	acl := []byte{2, 0, 0, 0, 1, 0, 7, 0, 255, 255, 255, 255, 4, 0, 5, 0, 255, 255, 255, 255, 32, 0, 1, 0, 255, 255, 255, 255}
	res("setacl(u::rwx,g::rx,o::x)", "f644", unix.Setxattr(filepath.Join(dir, "f644"), "system.posix_acl_access", acl, 0))
	res("setacl(u::rwx,g::rx,o::x)", "own640", unix.Setxattr(filepath.Join(dir, "own640"), "system.posix_acl_access", acl, 0))
	res("setacl(u::rwx,g::rx,o::x)", "ownroot", unix.Setxattr(filepath.Join(dir, "ownroot"), "system.posix_acl_access", acl, 0))
	return out
}

func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// modeText is " mode NNNN" of p after a successful operation.
func modeText(dir, p string, err error) string {
	var st unix.Stat_t
	if err != nil || unix.Lstat(filepath.Join(dir, p), &st) != nil {
		return ""
	}
	return fmt.Sprintf(" mode %07o %d:%d", st.Mode, st.Uid, st.Gid)
}
