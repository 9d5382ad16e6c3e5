package tests

// TestSuperRulesEveryOpener: a superblock breaking one of the kernel's
// superblock rules (#1–#10) in every copy is refused the same way by every
// opener — the checker's superblock reader, transaction.Open, fs.Open (the
// mount), mkfs's probe, fsck, and the commands mount, fsck, dump-tree and
// mkfs — each naming the checker's rule, and the kernel refuses to mount it
// too. btrfs check 6.2 ignores the leafsize and the superblock flags
// (btrfs-format.md §3.7 #45), so it is required to agree only where it
// checks.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fs"
	"cowfs/fsck"
	"cowfs/fsck/fscktest"
	"cowfs/mkfs"
	"cowfs/transaction"
)

// superRuleCase breaks one superblock rule in every copy.
type superRuleCase struct {
	name       string
	rule       int
	says       string // the checker's reason
	checkFails bool   // btrfs check 6.2 refuses it too
	edit       func(s *format.Super)
}

var superRuleCases = []superRuleCase{
	{"leafsize differs from nodesize", checker.RuleSuperSizes, "invalid leafsize", false,
		func(s *format.Super) { s.LeafSize = s.NodeSize / 2 }},
	{"unknown superblock flag", checker.RuleSuperFlags, "unrecognized or unsupported super flag", false,
		func(s *format.Super) { s.Flags |= 1 << 45 }},
	{"bytes_used too small", checker.RuleSuperCounts, "bytes_used is too small", true,
		func(s *format.Super) { s.BytesUsed = uint64(s.NodeSize) }},
}

func TestSuperRulesEveryOpener(t *testing.T) {
	bin := inspectBin(t)
	good := filepath.Join(t.TempDir(), "good.img")
	r := runCmd(t, bin, "mkfs", "--size", "128M", good) // 128 MiB: the 64 MiB mirror exists
	require.Zero(t, r.Code, "%s%s", r.Stdout, r.Stderr)
	for _, c := range superRuleCases {
		t.Run(c.name, func(t *testing.T) {
			img := fscktest.Copy(t, good)
			for _, off := range []int64{format.SuperInfoOffset, format.MirrorOffset(1)} {
				badInputSuper(t, img, off, c.edit, false)
			}
			before := badInputState(t, img)
			requireOpenersRefuse(t, img, c)
			requireCommandsRefuse(t, bin, img, c)
			require.Equal(t, before, badInputState(t, img), "an opener wrote to the image")
			requireOraclesRefuse(t, img, c)
		})
	}
}

// requireRuleErr requires err to carry the checker's error for rule c.rule.
func requireRuleErr(t *testing.T, who string, err error, c superRuleCase) {
	t.Helper()
	require.Error(t, err, "%s accepted the superblock", who)
	t.Logf("%s: %v", who, err)
	e, ok := errors.AsType[*checker.Error](err)
	require.True(t, ok, "%s: %v is not the checker's error", who, err)
	require.Equal(t, c.rule, e.Rule, "%s: %v", who, err)
	require.Contains(t, err.Error(), c.says, who)
	require.ErrorIs(t, err, format.ErrCorrupt, who)
	require.NotContains(t, err.Error(), "\n", who)
}

// requireOpenersRefuse opens img through every opener in this process.
func requireOpenersRefuse(t *testing.T, img string, c superRuleCase) {
	dev, err := disk.OpenFile(img, disk.FileOptions{ReadOnly: true, Buffered: true})
	require.NoError(t, err)
	defer dev.Close()
	_, err = checker.ReadSuper(dev)
	requireRuleErr(t, "checker.ReadSuper", err, c)
	o := transaction.DefaultOptions()
	o.ReadOnly = true
	tfs, err := transaction.Open(dev, o)
	if err == nil {
		tfs.Close()
	}
	requireRuleErr(t, "transaction.Open", err, c)
	for _, ro := range []bool{false, true} {
		o := fs.DefaultOptions()
		o.Transaction.ReadOnly = ro
		f, err := fs.Open(img, o)
		if err == nil {
			f.Close()
		}
		requireRuleErr(t, "fs.Open", err, c)
	}
	requireRuleErr(t, "mkfs.Probe", mkfs.Probe(dev), c)
	require.ErrorIs(t, mkfs.Probe(dev), mkfs.ErrExists)
	requireFsckReports(t, dev, c)
}

// requireFsckReports: fsck reports the rule for both copies (it checks the
// rest from the newest intact copy rather than giving up).
func requireFsckReports(t *testing.T, dev disk.Device, c superRuleCase) {
	rep, err := fsck.Check(dev, fsck.Options{})
	require.NoError(t, err, "fsck reports a broken superblock, it does not give up")
	for _, m := range []int{0, 1} {
		p := superProblem(t, rep, m)
		require.Equal(t, c.rule, p.Rule, p.Message)
		require.Contains(t, p.Message, c.says)
	}
}

// superProblem returns fsck's KindSuper problem about mirror m.
func superProblem(t *testing.T, rep *fsck.Report, m int) fsck.Problem {
	t.Helper()
	for _, p := range rep.Problems {
		if p.Kind == fsck.KindSuper && p.Block == uint64(format.MirrorOffset(m)) {
			return p
		}
	}
	t.Fatalf("fsck reports nothing about superblock %d: %v", m, rep.Problems)
	return fsck.Problem{}
}

// requireCommandsRefuse runs the commands: each exits 1 naming the rule's
// reason, mount and mkfs in one line.
func requireCommandsRefuse(t *testing.T, bin, img string, c superRuleCase) {
	for _, args := range [][]string{{"fsck", img}, {"dump-tree", img}, {"mkfs", img}} {
		r := runCmd(t, bin, args...)
		t.Logf("cowfs %s → %d\n%s%s", strings.Join(args, " "), r.Code, r.Stderr, firstLine(r.Stdout))
		require.Equal(t, 1, r.Code, "cowfs %v", args)
		require.NotContains(t, r.Stdout+r.Stderr, "panic")
		if args[0] != "mkfs" { // mkfs names the filesystem it found, not its damage
			require.Contains(t, r.Stdout+r.Stderr, c.says, "cowfs %v", args)
		}
	}
	requireMountRefuses(t, bin, img, c)
}

// requireMountRefuses: cowfs mount exits 1 before mounting, in one line.
func requireMountRefuses(t *testing.T, bin, img string, c superRuleCase) {
	needFuse(t)
	d := launchDaemon(t, bin, img, newMountpoint(t))
	mounted, err := d.waitMounted()
	require.NoError(t, err)
	require.False(t, mounted, "cowfs mount accepted the superblock")
	code, err := d.exitCode(mountTimeout)
	require.NoError(t, err)
	msg := strings.TrimSpace(d.stderr.String())
	t.Logf("cowfs mount → %d: %s", code, msg)
	require.Equal(t, 1, code)
	require.NotContains(t, msg, "\n", "a refused mount says one line")
	require.Contains(t, msg, c.says)
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

// requireOraclesRefuse: the kernel refuses to mount the image; btrfs check
// refuses it where it checks that field.
func requireOraclesRefuse(t *testing.T, img string, c superRuleCase) {
	needKernelMount(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	r := runCmd(t, "mount", "-o", "loop,ro", img, mnt)
	if r.Code == 0 {
		unmount(t, mnt)
	}
	require.NotZero(t, r.Code, "the kernel mounted it")
	t.Logf("kernel: %s\n%s", strings.TrimSpace(r.Stderr), dmesgTail())
	needBtrfsProgs(t)
	chk := runCmd(t, "btrfs", "check", "--force", img)
	t.Logf("btrfs check → %d\n%s%s", chk.Code, chk.Stdout, chk.Stderr)
	if c.checkFails {
		require.NotZero(t, chk.Code, "btrfs check passed")
	}
}
