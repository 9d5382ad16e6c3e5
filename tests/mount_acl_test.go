package tests

// POSIX ACLs through the mount (issue 12 item 3): setfacl/getfacl, default
// ACL inheritance, chmod, and `cp -a` of a real tree with varied modes and
// ACLs, seen through the mount and through the kernel's btrfs mount of the
// image.

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// needACLTools skips (or fails under CI) without setfacl and getfacl.
func needACLTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"setfacl", "getfacl"} {
		if _, err := exec.LookPath(tool); err != nil {
			oracleUnavailable(t, tool+" not installed (package acl)")
		}
	}
}

// sh runs a shell command in dir with umask 022 and requires success.
func sh(t *testing.T, dir, cmd string) string {
	t.Helper()
	c := exec.Command("sh", "-c", "umask 022 && "+cmd)
	c.Dir = dir
	out, err := c.CombinedOutput()
	require.NoError(t, err, "%s (in %s): %s", cmd, dir, out)
	return string(out)
}

// acls returns `getfacl -n` of every path under root, by relative path:
// owner, group, access ACL (or the mode's three entries), default ACL.
func acls(t *testing.T, root string) map[string]string {
	t.Helper()
	out := sh(t, root, "getfacl -R -n -P .")
	m := map[string]string{}
	for _, block := range strings.Split(strings.TrimSpace(out), "\n\n") {
		file, rest, ok := strings.Cut(block, "\n")
		require.True(t, ok && strings.HasPrefix(file, "# file: "), "getfacl block %q", block)
		m[strings.TrimPrefix(file, "# file: ")] = rest
	}
	return m
}

// modes returns the lstat mode (type, permission and special bits) and
// owner of every path under root.
func modes(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[rel] = fmt.Sprintf("%07o %d:%d", st.Mode, st.Uid, st.Gid)
		return nil
	})
	require.NoError(t, err)
	return m
}

// requireSameTree compares modes, owners and ACLs of two trees.
func requireSameTree(t *testing.T, want, got string, what string) {
	t.Helper()
	wm, gm := modes(t, want), modes(t, got)
	require.Equal(t, len(wm), len(gm), "%s: number of paths", what)
	for p, m := range wm {
		require.Equal(t, m, gm[p], "%s: mode and owner of %s", what, p)
	}
	wa, ga := acls(t, want), acls(t, got)
	require.Equal(t, len(wa), len(ga), "%s: getfacl entries", what)
	for p, a := range wa {
		require.Equal(t, a, ga[p], "%s: getfacl of %s", what, p)
	}
}

// requireVariedTree: the source has extended and default ACLs and special
// bits, or the comparison would prove little.
func requireVariedTree(t *testing.T, src string) {
	t.Helper()
	var extended, defaults, special int
	for _, a := range acls(t, src) {
		if strings.Contains(a, "mask::") {
			extended++
		}
		if strings.Contains(a, "default:") {
			defaults++
		}
		if strings.Contains(a, "# flags:") {
			special++
		}
	}
	t.Logf("source tree: %d paths, %d with extended ACLs, %d with default ACLs, %d with setuid/setgid/sticky",
		len(modes(t, src)), extended, defaults, special)
	require.True(t, extended > 20 && defaults > 2 && special > 10)
}

func TestMountACL(t *testing.T) {
	needFuse(t)
	needBtrfsProgs(t)
	needACLTools(t)
	bin, img, mnt, d := freshMount(t, "512M")
	t.Run("setfacl", func(t *testing.T) { setfaclCases(t, mnt) })
	t.Run("inherit", func(t *testing.T) { inheritCases(t, mnt) })
	src := aclSourceTree(t)
	requireVariedTree(t, src)
	sh(t, mnt, "cp -a "+src+" copy")
	requireSameTree(t, src, filepath.Join(mnt, "copy"), "cp -a, through the mount")
	d.umount()
	requireImageClean(t, bin, img)
	needKernelMount(t)
	kmnt, umount := mountImage(t, img, true)
	defer umount()
	requireSameTree(t, src, filepath.Join(kmnt, "copy"), "cp -a, through the kernel's btrfs")
}

// setfaclCases: an ACL sets the mode, chmod changes the ACL, a minimal ACL
// is just the mode.
func setfaclCases(t *testing.T, mnt string) {
	sh(t, mnt, "touch f && setfacl -m u:1000:rw,g:50:r f")
	requireGetfacl(t, mnt, "f", "# owner: 0\n# group: 0\nuser::rw-\nuser:1000:rw-\ngroup::r--\ngroup:50:r--\nmask::rw-\nother::r--")
	requireMode(t, mnt, "f", 0o664)
	sh(t, mnt, "chmod 640 f")
	requireGetfacl(t, mnt, "f", "# owner: 0\n# group: 0\nuser::rw-\nuser:1000:rw-\t#effective:r--\ngroup::r--\ngroup:50:r--\nmask::r--\nother::---")
	sh(t, mnt, "setfacl -b f")
	requireMode(t, mnt, "f", 0o640)
	require.Empty(t, strings.TrimSpace(sh(t, mnt, "getfattr -m - -d f")), "a minimal ACL is no xattr")
	sh(t, mnt, "touch g && chmod 600 g && setfacl --set u::rwx,g::rx,o::r g")
	requireMode(t, mnt, "g", 0o754)
	require.Empty(t, strings.TrimSpace(sh(t, mnt, "getfattr -m - -d g")), "a minimal ACL is no xattr")
}

// inheritCases: a default ACL replaces the umask at create and mkdir.
func inheritCases(t *testing.T, mnt string) {
	sh(t, mnt, "mkdir d && setfacl -d -m u:1000:rwx,g::rx,o::- d && mkdir d/sub && touch d/f d/sub/g && mkfifo d/p && ln -s f d/s")
	requireMode(t, mnt, "d/f", 0o660)
	requireMode(t, mnt, "d/sub", 0o770)
	requireMode(t, mnt, "d/p", 0o660)
	requireGetfacl(t, mnt, "d/f", "# owner: 0\n# group: 0\nuser::rw-\nuser:1000:rwx\t#effective:rw-\ngroup::r-x\t#effective:r--\nmask::rw-\nother::---")
	requireGetfacl(t, mnt, "d/sub", "# owner: 0\n# group: 0\nuser::rwx\nuser:1000:rwx\ngroup::r-x\nmask::rwx\nother::---\n"+
		"default:user::rwx\ndefault:user:1000:rwx\ndefault:group::r-x\ndefault:mask::rwx\ndefault:other::---")
	requireGetfacl(t, mnt, "d/sub/g", "# owner: 0\n# group: 0\nuser::rw-\nuser:1000:rwx\t#effective:rw-\ngroup::r-x\t#effective:r--\nmask::rw-\nother::---")
	sh(t, mnt, "mkdir plain && touch plain/f")
	requireMode(t, mnt, "plain/f", 0o644)
}

func requireGetfacl(t *testing.T, mnt, rel, want string) {
	t.Helper()
	got := strings.TrimSpace(sh(t, mnt, "getfacl -n "+rel))
	require.Equal(t, "# file: "+rel+"\n"+want, got)
}

func requireMode(t *testing.T, mnt, rel string, perm uint32) {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Lstat(filepath.Join(mnt, rel), &st))
	require.Equal(t, fmt.Sprintf("%o", perm), fmt.Sprintf("%o", st.Mode&0o7777), rel)
}

// aclSourceTree copies a part of GOROOT/src to a temporary directory and
// gives its files and directories varied modes, owners and ACLs (seeded,
// so a failure replays).
func aclSourceTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.Mkdir(src, 0o755))
	for _, p := range []string{"container", "sort", "bufio", "archive"} {
		sh(t, src, "cp -r "+filepath.Join(runtime.GOROOT(), "src", p)+" .")
	}
	rng := rand.New(rand.NewPCG(12, 3))
	fileModes := []string{"600", "644", "755", "750", "444", "700", "4755", "2750", "640", "1644"}
	dirModes := []string{"755", "700", "750", "1777", "2775", "555"}
	var dirs []string
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		own := fmt.Sprintf("%d:%d", rng.IntN(3)*1000, rng.IntN(3)*100)
		if e.IsDir() {
			dirs = append(dirs, p) // chmod last: 555 would stop the walk
			sh(t, p, "chown "+own+" . && "+aclCommand(rng, ".", true))
			return nil
		}
		sh(t, src, "chown "+own+" "+p+" && chmod "+fileModes[rng.IntN(len(fileModes))]+" "+p+" && "+aclCommand(rng, p, false))
		return nil
	})
	require.NoError(t, err)
	for i := len(dirs) - 1; i >= 0; i-- {
		sh(t, src, "chmod "+dirModes[rng.IntN(len(dirModes))]+" "+dirs[i])
	}
	sh(t, src, "ln -s bufio/bufio.go link && mkfifo fifo && chmod 604 fifo && setfacl -m g:7:rw fifo")
	return src
}

// aclCommand is a setfacl command for p, or true for none (one time in 3).
func aclCommand(rng *rand.Rand, p string, dir bool) string {
	perms := []string{"r", "rw", "rwx", "x", "-", "rx"}
	perm := func() string { return perms[rng.IntN(len(perms))] }
	switch rng.IntN(3) {
	case 0:
		return "true"
	case 1:
		return fmt.Sprintf("setfacl -m u:%d:%s,g:%d:%s %s", 1000+rng.IntN(3), perm(), 100+rng.IntN(3), perm(), p)
	}
	if dir {
		return fmt.Sprintf("setfacl -d -m u:%d:%s,o::%s %s && setfacl -m m::%s %s", 2000+rng.IntN(3), perm(), perm(), p, perm(), p)
	}
	return fmt.Sprintf("setfacl -m m::%s,u:%d:%s %s", perm(), 3000+rng.IntN(3), perm(), p)
}
