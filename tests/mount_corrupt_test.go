package tests

// TestMountCorruptImage: `cowfs mount` of an image with flipped bytes in a
// tree block of the fs tree (checksum left wrong, nothing repaired). The
// daemon either refuses with one line and exit 1, or mounts and answers
// EIO or EUCLEAN for what the damaged block holds while serving the rest,
// and unmounts cleanly; it never panics.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
	"cowfs/fsck/fscktest"
)

func TestMountCorruptImage(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	img := filepath.Join(t.TempDir(), "good.img")
	mkfsImage(t, bin, img, "256M", "--nodesize", "4K")
	inos := populateForCorruption(t, bin, img)
	t.Run("root node", func(t *testing.T) {
		root := fscktest.Find(t, img, func(b fscktest.BlockRef) bool { return b.Tree == format.FSTreeObjectID && b.Parent == 0 })
		t.Log(mountCorrupt(t, bin, flipBytes(t, img, root), nil))
	})
	t.Run("leaf of a file", func(t *testing.T) {
		leaf := inodeLeaf(t, img, inos["d4/file30"])
		requireNoDirInode(t, img, leaf, inos)
		t.Log(mountCorrupt(t, bin, flipBytes(t, img, leaf), listsButFails(t, "d4", 60, "file30")))
	})
	t.Run("leaf of a directory", func(t *testing.T) {
		leaf := inodeLeaf(t, img, inos["d4"])
		t.Log(mountCorrupt(t, bin, flipBytes(t, img, leaf), listsButFails(t, "", 8, "d4")))
	})
}

// listsButFails checks that directory dir, whose own items are intact,
// lists its n names, while lstat of the entry whose inode is damaged
// fails with EIO or EUCLEAN. (Known bug, docs/mount.md: READDIRPLUS fails
// the whole listing when one entry's inode cannot be read.)
func listsButFails(t *testing.T, dir string, n int, damaged string) func(mnt string) {
	return func(mnt string) {
		ents, err := os.ReadDir(filepath.Join(mnt, dir))
		if assert.NoError(t, err, "readdir %q: its own items are intact", dir) {
			assert.Len(t, ents, n)
		}
		_, err = os.Lstat(filepath.Join(mnt, dir, damaged))
		assert.True(t, errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EUCLEAN), "lstat %s: %v", damaged, err)
	}
}

// flipBytes copies img and flips 16 bytes inside block b of the copy,
// leaving its checksum wrong.
func flipBytes(t *testing.T, img string, b fscktest.BlockRef) string {
	bad := fscktest.Copy(t, img)
	fscktest.PatchBlock(t, bad, b, false, func(p []byte) {
		for i := 1000; i < 1016; i++ {
			p[i] ^= 0xff
		}
	})
	t.Logf("flipped 16 bytes of block %d (level %d, %d items)", b.Bytenr, b.Level, b.Items)
	return bad
}

// inodeLeaf is the fs-tree leaf holding the INODE_ITEM of ino.
func inodeLeaf(t *testing.T, img string, ino uint64) fscktest.BlockRef {
	return fscktest.FindItem(t, img, format.FSTreeObjectID, fscktest.KeyIs(ino, format.InodeItemKey)).Block
}

// requireNoDirInode requires that leaf holds no directory's inode, so
// that damage to it hides files only.
func requireNoDirInode(t *testing.T, img string, leaf fscktest.BlockRef, inos map[string]uint64) {
	for rel, ino := range inos {
		if !strings.Contains(rel, "/") {
			require.NotEqual(t, leaf.Bytenr, inodeLeaf(t, img, ino).Bytenr, "the leaf also holds directory %s", rel)
		}
	}
}

// populateForCorruption fills the image through a mount: 8 directories
// of 60 small files with an xattr each, enough for a 4 KiB-node fs tree
// of two levels. It returns the inode numbers by path.
func populateForCorruption(t *testing.T, bin, img string) map[string]uint64 {
	mnt := newMountpoint(t)
	d := startDaemon(t, bin, img, mnt)
	inos := map[string]uint64{}
	add := func(rel string) {
		var st syscall.Stat_t
		require.NoError(t, syscall.Lstat(filepath.Join(mnt, rel), &st))
		inos[rel] = st.Ino
	}
	for i := range 8 {
		dir := fmt.Sprintf("d%d", i)
		require.NoError(t, os.Mkdir(filepath.Join(mnt, dir), 0o755))
		add(dir)
		for j := range 60 {
			rel := fmt.Sprintf("%s/file%02d", dir, j)
			p := filepath.Join(mnt, rel)
			require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("data", 25)), 0o644))
			require.NoError(t, syscall.Setxattr(p, "user.k", []byte("value"), 0))
			add(rel)
		}
	}
	d.umount()
	return inos
}

// mountCorrupt mounts img and judges the outcome (check, if not nil,
// runs first on a mount); it describes the outcome. A mounted image must
// then pass cowfs fsck's judgement as still damaged: nothing repairs it.
func mountCorrupt(t *testing.T, bin, img string, check func(mnt string)) string {
	mnt := newMountpoint(t)
	d := launchDaemon(t, bin, img, mnt)
	mounted, err := d.waitMounted()
	require.NoError(t, err)
	if !mounted {
		code, err := d.exitCode(mountTimeout)
		require.NoError(t, err)
		msg := strings.TrimSpace(d.stderr.String())
		require.Equal(t, 1, code, "exit status of a refused mount; output:\n%s", msg)
		require.NotContains(t, msg, "\n", "a refused mount says one line")
		require.False(t, panicText.MatchString(msg), "panic in %s", msg)
		require.False(t, isFuseMount(mnt))
		return "refused: " + msg
	}
	if check != nil {
		check(mnt)
	}
	ok, damaged := walkDamaged(t, mnt)
	require.Greater(t, damaged, 0, "a damaged block mounted, but no operation noticed it")
	requireServing(t, mnt)
	d.umount()
	require.Equal(t, 1, runCmd(t, bin, "fsck", img).Code, "cowfs fsck must still see the damage")
	return fmt.Sprintf("mounted; %d operations answered, %d failed with EIO/EUCLEAN; unmounted cleanly", ok, damaged)
}

// walkDamaged reads every directory, inode, file and xattr list below
// root; each failure must be EIO or EUCLEAN. It counts both outcomes.
func walkDamaged(t *testing.T, root string) (ok, damaged int) {
	count := func(what string, err error) bool {
		if err == nil {
			ok++
			return true
		}
		require.True(t, errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EUCLEAN), "%s: %v, want EIO or EUCLEAN", what, err)
		damaged++
		return false
	}
	var walk func(dir string)
	walk = func(dir string) {
		ents, err := os.ReadDir(dir)
		if !count("readdir "+dir, err) {
			return
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			st, err := os.Lstat(p)
			if !count("lstat "+p, err) {
				continue
			}
			_, err = listXattrNames(p)
			count("listxattr "+p, err)
			if st.IsDir() {
				walk(p)
			} else {
				_, err = os.ReadFile(p)
				count("read "+p, err)
			}
		}
	}
	walk(root)
	return ok, damaged
}

// requireServing checks that a mount with a damaged block still serves
// a new file in the root directory, and statfs.
func requireServing(t *testing.T, mnt string) {
	p := filepath.Join(mnt, "new")
	require.NoError(t, os.WriteFile(p, []byte("written after the damage"), 0o644))
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "written after the damage", string(got))
	var st syscall.Statfs_t
	// Known bug (docs/mount.md): statfs counts the inodes by reading the
	// whole fs tree, so one unreadable leaf fails it (and df) for good.
	assert.NoError(t, syscall.Statfs(mnt, &st), "statfs with a damaged leaf")
}
