package tests

// What an open does with an image holding a kernel's fsync log, besides
// replaying it (treelog_replay_test.go): a read-only open refuses, with
// no-log-replay it shows the last commit; cowfs zero-log drops the log as
// btrfs rescue zero-log; a replay cut short replays again to the same
// result; a corrupt log block fails the open in one line and commits
// nothing.

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
	cowfs "cowfs/fs"
	"cowfs/fsck/fscktest"
	"cowfs/transaction"
	"cowfs/treelog"
)

// loggedImage is a kernel image (KernelFill) with a pending log
// (renameFill's fsyncs).
func loggedImage(t *testing.T) string {
	t.Helper()
	needKernelMount(t)
	needBtrfsProgs(t)
	base := fscktest.Mkfs(t, 256<<20, fscktest.Minimal...)
	fscktest.Populate(t, base, fscktest.KernelFill(t))
	crash := fscktest.PopulateWithLog(t, base, renameFill(t))
	require.NotZero(t, superOf(t, crash).LogRoot, "the crash copy should hold a log")
	return crash
}

func digest(t *testing.T, path string) [32]byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

func TestLogReadOnlyOpen(t *testing.T) {
	img := loggedImage(t)
	before := digest(t, img)
	opts := cowfs.DefaultOptions()
	opts.Transaction.ReadOnly = true
	_, err := cowfs.Open(img, opts)
	require.ErrorIs(t, err, transaction.ErrLogReplay)
	require.Contains(t, err.Error(), "log replay required on RO media")
	require.NotContains(t, err.Error(), "\n")

	r := runCmd(t, buildCowfs(t), "mount", "--read-only", img, t.TempDir())
	require.Equal(t, 1, r.Code, "cowfs mount --read-only of a logged image: %s", r.Stderr)
	require.Contains(t, r.Stderr, "log replay required on RO media")
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "one line: %q", r.Stderr)

	opts.Transaction.NoLogReplay = true
	f, err := cowfs.Open(img, opts)
	require.NoError(t, err)
	_, err = f.Lookup(cowfs.RootIno, "new_1.bin")
	require.Error(t, err, "no-log-replay shows the last commit, without the fsynced file")
	_, err = f.Lookup(cowfs.RootIno, "small.bin")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, before, digest(t, img), "a read-only open wrote to the image")

	opts.Transaction.ReadOnly = false
	_, err = cowfs.Open(img, opts)
	require.ErrorIs(t, err, transaction.ErrInvalidOptions, "no-log-replay is for read-only opens")
}

func TestZeroLog(t *testing.T) {
	img := loggedImage(t)
	nolog := fscktest.Copy(t, img)
	bin := buildCowfs(t)
	r := runCmd(t, bin, "zero-log", img)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "log dropped")
	require.Zero(t, superOf(t, img).LogRoot)
	r = runCmd(t, bin, "zero-log", img)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "no log to drop")
	fscktest.RequireClean(t, img)
	// btrfs rescue zero-log on a second copy: the same image, byte for byte
	// after both (only log_root changed, in every copy of the superblock).
	fscktest.Run(t, "btrfs", "rescue", "zero-log", nolog)
	require.Equal(t, digest(t, nolog), digest(t, img))
	require.NotContains(t, strings.Join(kernelView(t, img), "\n"), "new_1.bin", "the log's file after zero-log")
}

// TestLogReplayCutShort: a replay that fails before its commit (here, after
// replaying everything, with a tiny cache so that reclaim wrote blocks of
// the replay to the image) leaves the image with its log; the next open
// replays it to what the kernel's replay shows.
func TestLogReplayCutShort(t *testing.T) {
	img := loggedImage(t)
	theirs := fscktest.Copy(t, img)
	cut := errors.New("cut short before the commit")
	opts := transaction.DefaultOptions()
	opts.CommitInterval = -1
	opts.Cache.Budget = 24 * int64(superOf(t, img).NodeSize)
	opts.ReplayLog = func(fs *transaction.FS) error { return errors.Join(treelog.Replay(fs), cut) }
	_, err := transaction.OpenFile(img, opts)
	require.ErrorIs(t, err, cut)
	require.NotZero(t, superOf(t, img).LogRoot, "a failed replay must leave the log")
	replayWithCowfs(t, img)
	fscktest.RequireClean(t, img)
	require.Equal(t, kernelView(t, theirs), kernelView(t, img))
}

// TestLogCorruptBlock: a log leaf with a bad checksum, or owned by another
// tree, fails the read-write open with one line naming the block; the
// image keeps its log and still opens with no-log-replay.
func TestLogCorruptBlock(t *testing.T) {
	base := loggedImage(t)
	cases := map[string]struct {
		fix    bool
		change func(b []byte)
		want   string
	}{
		"bad checksum": {false, func(b []byte) { b[format.HeaderSize+40] ^= 0xff }, "checksum"},
		"wrong owner":  {true, func(b []byte) { format.Header(b).SetOwner(format.FSTreeObjectID) }, "owner"},
		"wrong generation": {true, func(b []byte) {
			h := format.Header(b)
			h.SetGeneration(h.Generation() + 5)
		}, "transid"},
		"bad inode ref": {true, func(b []byte) {
			l := format.Leaf(b)
			for i := range l.NrItems() {
				if l.ItemKey(i).Type == format.InodeRefKey {
					binary.LittleEndian.PutUint16(l.ItemData(i)[8:], 200) // name longer than the item
					return
				}
			}
			panic("no INODE_REF in the log leaf")
		}, "inode_ref"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			img := fscktest.Copy(t, base)
			sb := superOf(t, img)
			leaf := fscktest.Find(t, img, func(b fscktest.BlockRef) bool {
				return b.Tree == format.TreeLogObjectID && b.Bytenr != sb.LogRoot && b.Level == 0
			})
			fscktest.PatchBlock(t, img, leaf, c.fix, c.change)
			before := digest(t, img)
			opts := cowfs.DefaultOptions()
			_, err := cowfs.Open(img, opts)
			require.Error(t, err)
			msg := err.Error()
			t.Log(msg)
			require.NotContains(t, msg, "\n")
			require.Contains(t, msg, "log")
			require.Contains(t, strings.ToLower(msg), c.want)
			require.Contains(t, msg, strconv.FormatUint(leaf.Bytenr, 10))
			require.Equal(t, before, digest(t, img), "a failed replay wrote to the image")
			opts.Transaction.ReadOnly, opts.Transaction.NoLogReplay = true, true
			f, err := cowfs.Open(img, opts)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		})
	}
}

// TestLogReplaySnapshotRefused: a log that changes a snapshotted
// subvolume (whose tree blocks are shared) is not replayed: cowfs does not
// COW shared blocks yet. The open fails in one line, nothing is written,
// and the kernel still replays the image.
func TestLogReplaySnapshotRefused(t *testing.T) {
	needKernelMount(t)
	needBtrfsProgs(t)
	base := fscktest.Mkfs(t, 256<<20, fscktest.Minimal...)
	fscktest.Populate(t, base, fscktest.KernelFill(t))
	img := fscktest.PopulateWithLog(t, base, func(dir string) {
		p := filepath.Join(dir, "snap", "logged")
		require.NoError(t, os.WriteFile(p, []byte("in the snapshot"), 0o644))
		fsyncPath(t, p)
	})
	require.NotZero(t, superOf(t, img).LogRoot)
	before := digest(t, img)
	_, err := cowfs.Open(img, cowfs.DefaultOptions())
	require.ErrorIs(t, err, transaction.ErrUnsupported)
	require.Contains(t, err.Error(), "shares tree blocks with a snapshot")
	require.NotContains(t, err.Error(), "\n")
	require.Equal(t, before, digest(t, img), "a refused replay wrote to the image")
	require.Contains(t, strings.Join(kernelView(t, img), "\n"), "snap/logged ")
	btrfsCheck(t, img)
}

// TestZeroLogBadInput: a file that is not btrfs, and a missing one, exit
// 1 with one line, and nothing is written.
func TestZeroLogBadInput(t *testing.T) {
	bin := buildCowfs(t)
	junk := filepath.Join(t.TempDir(), "junk.img")
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i*131 + i>>7)
	}
	require.NoError(t, os.WriteFile(junk, b, 0o644))
	missing := filepath.Join(t.TempDir(), "missing.img")
	for _, p := range []string{junk, missing} {
		r := runCmd(t, bin, "zero-log", p)
		require.Equal(t, 1, r.Code, "zero-log %s: %s", p, r.Stderr)
		require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "one line: %q", r.Stderr)
		require.Contains(t, r.Stderr, p)
	}
	require.Equal(t, sha256.Sum256(b), digest(t, junk), "zero-log wrote to a file that is not btrfs")
	require.NoFileExists(t, missing, "zero-log created a file")
}

// TestLogFreeSpaceTreeImage replays a kernel's log into a default
// mkfs.btrfs image, which has a free-space tree: the replay's commit keeps
// the tree, and the result is what the kernel's own replay shows.
func TestLogFreeSpaceTreeImage(t *testing.T) {
	needKernelMount(t)
	needBtrfsProgs(t)
	img := fscktest.Mkfs(t, 256<<20, "-m", "single", "-d", "single")
	crash := fscktest.PopulateWithLog(t, img, fscktest.LogFill(t))
	require.NotZero(t, superOf(t, crash).LogRoot, "the crash copy should hold a log")
	ours, theirs := fscktest.Copy(t, crash), crash
	replayWithCowfs(t, ours)
	fscktest.RequireClean(t, ours)
	require.Equal(t, kernelView(t, theirs), kernelView(t, ours), "cowfs's replay differs from the kernel's")
}
