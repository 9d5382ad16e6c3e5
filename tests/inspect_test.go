package tests

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"cowfs/disk/format"
	"cowfs/fsck/fscktest"
)

// The inspection commands are compared with btrfs-progs (6.2) on the same
// images: the output must be identical line for line, except for these
// allowed differences:
//
//   - dump-tree: btrfs-progs prints a "btrfs-progs v6.2" banner first; we do
//     not (we are not btrfs-progs). The banner line is dropped before
//     comparing.
//
// Nothing else is tolerated: every item type on these images (inodes, refs,
// extrefs, dir items, xattrs, inline/regular/prealloc/compressed extents,
// csums, root items and refs, extent and metadata items with every inline
// ref kind, block groups, chunks, devices, dev extents, dev stats, free
// space, uuid, log items) renders exactly as btrfs-progs renders it.

const inspectMiB = 1 << 20

var (
	inspectBuildOnce sync.Once
	inspectBinPath   string
	inspectBuildErr  error
)

// inspectBin builds the cowfs command once per test run.
func inspectBin(t *testing.T) string {
	t.Helper()
	inspectBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cowfs-bin-")
		if err != nil {
			inspectBuildErr = err
			return
		}
		inspectBinPath = filepath.Join(dir, "cowfs")
		out, err := exec.Command("go", "build", "-o", inspectBinPath, "cowfs/cmd/cowfs").CombinedOutput()
		if err != nil {
			inspectBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, inspectBuildErr)
	return inspectBinPath
}

// sameAsBtrfs runs btrfs-progs and cowfs with their arguments and requires the
// same stdout (minus btrfs-progs' banner).
func sameAsBtrfs(t *testing.T, btrfsArgs, cowfsArgs []string) {
	t.Helper()
	theirs, errs, code := fscktest.Output("btrfs", btrfsArgs...)
	require.Zero(t, code, "btrfs %v: %s", btrfsArgs, errs)
	theirs = strings.TrimPrefix(theirs, "btrfs-progs v6.2\n")
	ours, errs, _ := fscktest.Output(inspectBin(t), cowfsArgs...)
	inspectSameLines(t, fmt.Sprint(cowfsArgs), theirs, ours+errs)
}

// inspectSameLines fails with the first differing lines.
func inspectSameLines(t *testing.T, what, theirs, ours string) {
	t.Helper()
	if theirs == ours {
		return
	}
	a, b := strings.Split(theirs, "\n"), strings.Split(ours, "\n")
	var diffs []string
	for i := 0; i < max(len(a), len(b)) && len(diffs) < 20; i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			diffs = append(diffs, fmt.Sprintf("line %d:\n  btrfs: %q\n  cowfs: %q", i+1, x, y))
		}
	}
	t.Fatalf("%s: output differs from btrfs-progs (%d vs %d lines):\n%s", what, len(a), len(b), strings.Join(diffs, "\n"))
}

// inspectImage is one image to compare on.
type inspectImage struct {
	name string
	path string
}

// inspectImages makes the images of the comparison: mkfs.btrfs with several
// node sizes, checksums and profiles, one filled by --rootdir (internal
// nodes), and, with root, kernel-written ones (snapshots, a pending log).
func inspectImages(t *testing.T) []inspectImage {
	fscktest.NeedTools(t, "mkfs.btrfs", "btrfs")
	imgs := []inspectImage{
		{"minimal-xxhash", fscktest.Mkfs(t, 256*inspectMiB, append([]string{"--csum", "xxhash"}, fscktest.Minimal...)...)},
		{"minimal-crc32c-4k", fscktest.Mkfs(t, 128*inspectMiB, append([]string{"-n", "4096"}, fscktest.Minimal...)...)},
		{"defaults-sha256-64k", fscktest.Mkfs(t, 256*inspectMiB, "--csum", "sha256", "-n", "65536")},
		{"nonskinny-blake2", fscktest.Mkfs(t, 128*inspectMiB, "--csum", "blake2", "-O", "^skinny-metadata,^no-holes")},
		{"rootdir-4k", fscktest.Mkfs(t, 128*inspectMiB, append([]string{"-n", "4096", "--rootdir", fscktest.RootDir(t, 1500)}, fscktest.Minimal...)...)},
	}
	if os.Geteuid() != 0 {
		t.Log("SKIP: kernel-written images need root for loop mounts; comparing mkfs.btrfs images only")
		return imgs
	}
	kernel := fscktest.Mkfs(t, 512*inspectMiB, fscktest.Minimal...)
	fscktest.Populate(t, kernel, fscktest.KernelFill(t))
	logged := fscktest.PopulateWithLog(t, fscktest.Copy(t, kernel), fscktest.LogFill(t))
	require.NotZero(t, fscktest.Open(t, logged).Super.LogRoot, "the crash copy should hold a log")
	exotic := fscktest.Mkfs(t, 1024*inspectMiB, "-n", "4096", "-O", "^skinny-metadata,^no-holes")
	fscktest.PopulateWith(t, exotic, "compress=zlib", fscktest.ExoticFill(t))
	return append(imgs, inspectImage{"kernel", kernel}, inspectImage{"kernel-log", logged}, inspectImage{"kernel-exotic", exotic})
}

func TestDumpSuperMatchesBtrfs(t *testing.T) {
	for _, img := range inspectImages(t) {
		t.Run(img.name, func(t *testing.T) {
			sameAsBtrfs(t, []string{"inspect-internal", "dump-super", "-f", img.path}, []string{"dump-super", "-f", img.path})
			sameAsBtrfs(t, []string{"inspect-internal", "dump-super", img.path}, []string{"dump-super", img.path})
			sameAsBtrfs(t, []string{"inspect-internal", "dump-super", "-a", "-f", img.path}, []string{"dump-super", "--all", "-f", img.path})
		})
	}
}

// TestDumpSuperOddFields compares superblocks with every flag bit set, an
// unknown checksum type, a label with an unprintable byte, a set
// METADATA_UUID flag and a bad checksum.
func TestDumpSuperOddFields(t *testing.T) {
	base := fscktest.Mkfs(t, 128*inspectMiB, fscktest.Minimal...)
	edits := map[string]func(s *format.Super) bool{
		"all flags": func(s *format.Super) bool {
			s.Flags, s.CompatRoFlags, s.IncompatFlags = ^uint64(0), ^uint64(0), ^uint64(0)
			return true
		},
		"verity only":   func(s *format.Super) bool { s.CompatRoFlags = format.CompatRoVerity; return true },
		"metadata uuid": func(s *format.Super) bool { s.IncompatFlags |= format.IncompatMetadataUUID; return true },
		"label":         func(s *format.Super) bool { copy(s.Label[:], "my\x01label"); return true },
		"bad csum":      func(s *format.Super) bool { s.Generation++; return false },
		"csum type 9":   func(s *format.Super) bool { s.CsumType = 9; return false },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			img := fscktest.Copy(t, base)
			inspectEditSuper(t, img, edit)
			sameAsBtrfs(t, []string{"inspect-internal", "dump-super", "-f", img}, []string{"dump-super", "-f", img})
		})
	}
}

// inspectEditSuper rewrites the primary superblock of img; the checksum is
// recomputed when edit returns true.
func inspectEditSuper(t *testing.T, img string, edit func(s *format.Super) bool) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, format.SuperSize)
	_, err = f.ReadAt(buf, format.SuperInfoOffset)
	require.NoError(t, err)
	s, err := format.DecodeSuper(buf)
	require.NoError(t, err)
	var out []byte
	if edit(s) {
		out = s.EncodeWithCsum()
	} else {
		out = s.Encode()
	}
	_, err = f.WriteAt(out, format.SuperInfoOffset)
	require.NoError(t, err)
}

// inspectTreeArgs are the -t values compared: btrfs-progs' spelling, then ours.
var inspectTreeArgs = [][2]string{
	{"root", "root"}, {"chunk", "chunk"}, {"extent", "extent"}, {"dev", "dev"},
	{"fs", "fs"}, {"csum", "csum"}, {"uuid", "uuid"}, {"quota", "quota"},
	{"free_space", "free-space"}, {"data_reloc", "data-reloc"}, {"tree_log", "log"},
	{"256", "256"}, {"257", "257"},
}

func TestDumpTreeMatchesBtrfs(t *testing.T) {
	for _, img := range inspectImages(t) {
		t.Run(img.name, func(t *testing.T) {
			sameAsBtrfs(t, []string{"inspect-internal", "dump-tree", img.path}, []string{"dump-tree", img.path})
			for _, a := range inspectTreeArgs {
				sameAsBtrfs(t, []string{"inspect-internal", "dump-tree", "-t", a[0], img.path},
					[]string{"dump-tree", "-t", a[1], img.path})
			}
			if img.name == "kernel-exotic" {
				inspectCoverage(t, img.path)
			}
			var theirs, ours []string
			for _, b := range inspectRoots(t, img.path, 4) {
				sameAsBtrfs(t, []string{"inspect-internal", "dump-tree", "-b", b, img.path}, []string{"dump-tree", "-b", b, img.path})
				theirs = append([]string{"-b", b}, theirs...) // reversed: the tools sort
				ours = append(ours, "-b", b)
			}
			sameAsBtrfs(t, append(append([]string{"inspect-internal", "dump-tree"}, theirs...), img.path),
				append(append([]string{"dump-tree"}, ours...), img.path))
		})
	}
}

// inspectExoticLines must all appear in the dump of the kernel-exotic image: the
// comparison above then covers these rarer renderings.
var inspectExoticLines = []string{
	"INODE_EXTREF", "UUID_KEY_RECEIVED_SUBVOL", "QGROUP_STATUS", "QGROUP_INFO",
	"QGROUP_LIMIT", "compression 1 (zlib)", "extent data disk byte 0 nr 0", "EXTENT_DATA_REF",
	"shared block backref parent", "shared data backref parent", "FULL_BACKREF",
	"tree block key (", "FREE_SPACE_INFO", "METADATA|DUP", "DEV_STATS",
}

func inspectCoverage(t *testing.T, img string) {
	t.Helper()
	out, _, _ := inspectRun(t, "dump-tree", img)
	for _, want := range inspectExoticLines {
		if !strings.Contains(out, want) {
			t.Errorf("the exotic image should exercise %q", want)
		}
	}
}

// inspectRoots returns the addresses of up to n tree roots of img.
func inspectRoots(t *testing.T, img string, n int) []string {
	var out []string
	for _, b := range fscktest.Blocks(t, img) {
		if b.Parent == 0 && len(out) < n {
			out = append(out, fmt.Sprint(b.Bytenr))
		}
	}
	return out
}

// inspectFileHash is a sha256 of a file, to prove a command did not write
// it. It hashes the size and the data regions (SEEK_DATA/SEEK_HOLE) with their
// offsets, so a sparse 128 MiB image costs what its few MiB of data cost.
func inspectFileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	h := sha256.New()
	fmt.Fprintf(h, "size %d\n", st.Size())
	for off := int64(0); off < st.Size(); {
		data, err := f.Seek(off, unix.SEEK_DATA)
		if errors.Is(err, syscall.ENXIO) {
			break // only a hole is left
		}
		require.NoError(t, err)
		hole, err := f.Seek(data, unix.SEEK_HOLE)
		require.NoError(t, err)
		fmt.Fprintf(h, "data %d-%d\n", data, hole)
		_, err = io.Copy(h, io.NewSectionReader(f, data, hole-data))
		require.NoError(t, err)
		off = hole
	}
	return [32]byte(h.Sum(nil))
}

// inspectRun runs the built command.
func inspectRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return fscktest.Output(inspectBin(t), args...)
}

func TestFsckCommand(t *testing.T) {
	img := fscktest.Mkfs(t, 128*inspectMiB, append([]string{"-n", "4096", "--rootdir", fscktest.RootDir(t, 800)}, fscktest.Minimal...)...)
	before := inspectFileHash(t, img)

	out, errs, code := inspectRun(t, "fsck", img)
	require.Zero(t, code, "%s%s", out, errs)
	require.Regexp(t, `^checked \d+ blocks in \d+ trees: no problems found\n$`, out)
	require.Empty(t, errs)
	require.Equal(t, before, inspectFileHash(t, img), "fsck must not write")

	bad := fscktest.Copy(t, img)
	leaf := fscktest.Find(t, bad, func(b fscktest.BlockRef) bool { return b.Tree == 5 && b.Level == 0 && b.Parent != 0 })
	fscktest.PatchBlock(t, bad, leaf, false, func(b []byte) { b[len(b)-1] ^= 1 })
	out, _, code = inspectRun(t, "fsck", bad)
	require.Equal(t, 1, code, out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2, out)
	require.Equal(t, fmt.Sprintf("bad tree block: root=5 block=%d, checksum verify failed", leaf.Bytenr),
		lines[0][:strings.Index(lines[0], ", have")])
	require.Regexp(t, `^checked \d+ blocks in \d+ trees: 1 problem found$`, lines[1])
}

func TestFsckCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	notBtrfs := filepath.Join(dir, "zeros")
	require.NoError(t, os.WriteFile(notBtrfs, make([]byte, 2*inspectMiB), 0o644))
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("hello"), 0o644))
	truncated := fscktest.Copy(t, fscktest.Mkfs(t, 128*inspectMiB, fscktest.Minimal...))
	require.NoError(t, os.Truncate(truncated, 16*inspectMiB))
	cases := []struct {
		args []string
		code int
		want string // in the one stderr line
	}{
		{[]string{"fsck", filepath.Join(dir, "missing")}, 1, "no such file or directory"},
		{[]string{"fsck", notBtrfs}, 1, "no valid btrfs superblock (primary at 65536: bad magic 0x0"},
		{[]string{"fsck", short}, 1, "primary at 65536: beyond device end"},
		{[]string{"fsck", truncated}, 1, "image truncated"},
		{[]string{"fsck"}, 2, "expected one IMAGE argument"},
		{[]string{"fsck", "a", "b"}, 2, "expected one IMAGE argument"},
		{[]string{"fsck", "--bogus", notBtrfs}, 2, "unknown flag"},
		{[]string{"dump-tree", notBtrfs}, 1, "no valid btrfs superblock"},
		{[]string{"dump-tree", "-t", "nosuchtree", notBtrfs}, 2, "unknown tree"},
		{[]string{"dump-super", notBtrfs}, 1, "bad magic"},
	}
	for _, c := range cases {
		out, errs, code := inspectRun(t, c.args...)
		require.Equal(t, c.code, code, "%v: %s%s", c.args, out, errs)
		require.Equal(t, 1, strings.Count(errs, "\n"), "%v: one error line: %q", c.args, errs)
		require.Contains(t, errs, c.want, "%v", c.args)
		require.NotContains(t, errs, "panic", "%v", c.args)
	}
}

// TestDumpTreeBadBlock: a damaged block prints the checker's line instead of
// its contents, and the dump goes on with every other tree.
func TestDumpTreeBadBlock(t *testing.T) {
	img := fscktest.Mkfs(t, 128*inspectMiB, fscktest.Minimal...)
	good, _, code := inspectRun(t, "dump-tree", img)
	require.Zero(t, code)
	bad := fscktest.Copy(t, img)
	leaf := fscktest.Find(t, bad, func(b fscktest.BlockRef) bool { return b.Tree == format.CsumTreeObjectID })
	fscktest.PatchBlock(t, bad, leaf, true, func(b []byte) { format.Header(b).SetGeneration(999) })
	out, _, code := inspectRun(t, "dump-tree", bad)
	require.Equal(t, 1, code)
	require.Contains(t, out, fmt.Sprintf("checksum tree key (CSUM_TREE ROOT_ITEM 0) \nbad tree block: root=7 block=%d, parent transid verify failed, have 999 expect", leaf.Bytenr))
	require.NotContains(t, out, fmt.Sprintf("leaf %d items", leaf.Bytenr))
	leaves := regexp.MustCompile(`(?m)^leaf \d+ items`)
	require.Equal(t, len(leaves.FindAllString(good, -1))-1, len(leaves.FindAllString(out, -1)), "every other leaf is printed")
	require.True(t, strings.HasSuffix(out, fmt.Sprintf("uuid %s\n", fscktest.Open(t, bad).Super.Fsid)))
}

// TestFsckCleanOnOracleImages: every image mkfs.btrfs and the kernel wrote
// passes our fsck, and btrfs check agrees.
func TestFsckCleanOnOracleImages(t *testing.T) {
	for _, img := range inspectImages(t) {
		t.Run(img.name, func(t *testing.T) {
			out, errs, code := inspectRun(t, "fsck", img.path)
			require.Zero(t, code, "%s%s", out, errs)
			require.Contains(t, out, "no problems found")
			require.NotContains(t, out, "warning", "btrfs check warns about none of these images")
			fscktest.Run(t, "btrfs", "check", img.path)
		})
	}
}

// badInputCase is one bad input and what each command must do with it.
// A command missing from want is not run on that input (the input is no bad
// input for it: mkfs on a file with no btrfs magic simply formats it).
type badInputCase struct {
	name string
	make func(t *testing.T, dir string) string // returns the IMAGE argument
	want map[string]badInputWant
}

// badInputWant: exit status, and a substring naming what is wrong and where.
// onStdout: the finding is a report line on stdout (fsck's problem list,
// dump-tree's per-block lines, dump-super's [DON'T MATCH]) and stderr stays
// empty; otherwise it is the single "cowfs: ..." line on stderr.
type badInputWant struct {
	code     int
	msg      string
	onStdout bool
}

// badInputSuper rewrites the superblock copy at off with edit applied,
// re-checksummed, or, if stale, under its old checksum.
func badInputSuper(t *testing.T, img string, off int64, edit func(s *format.Super), stale bool) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, format.SuperSize)
	_, err = f.ReadAt(buf, off)
	require.NoError(t, err)
	s, err := format.DecodeSuper(buf)
	require.NoError(t, err)
	edit(s)
	out := s.EncodeWithCsum()
	if stale {
		copy(out[:format.CsumFieldSize], buf[:format.CsumFieldSize])
	}
	_, err = f.WriteAt(out, off)
	require.NoError(t, err)
}

// TestBadInputEveryCommand is issue 2's bad-input paragraph run against the
// binary: truncated images, non-btrfs files, a wrong magic, checksum
// mismatches, a device below the minimum size, paths that cannot be opened
// (a directory, a missing file, a missing directory — chmod 000 means
// nothing to root), each given to fsck, dump-super, dump-tree and mkfs. Each
// must exit nonzero with its one-line error (or its report lines) naming what
// is wrong and where, never panic, and write nothing: the file's bytes,
// size and mtime are the same after, a missing path stays missing, a
// directory stays empty.
//
// The exceptions are btrfs-progs' own behaviour, which the inspection
// commands copy: dump-super prints a copy whose checksum does not match with
// "[DON'T MATCH]" and exit 0, and prints the intact superblock of a
// truncated image; dump-tree prints a truncated image whose tree blocks all
// lie before the cut. Those rows say code 0.
func TestBadInputEveryCommand(t *testing.T) {
	bin := inspectBin(t)
	good := filepath.Join(t.TempDir(), "good.img")
	out, errs, code := fscktest.Output(bin, "mkfs", "--size", "128M", good) // 128 MiB: the 64 MiB mirror exists
	require.Zero(t, code, "%s%s", out, errs)
	const mirror1 = 64 << 20
	copyGood := func(t *testing.T, _ string) string { return fscktest.Copy(t, good) } // sparse: a few MiB, not 128
	file := func(name string, content []byte) func(*testing.T, string) string {
		return func(t *testing.T, dir string) string {
			p := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(p, content, 0o644))
			return p
		}
	}
	truncated := func(size int64) func(*testing.T, string) string {
		return func(t *testing.T, dir string) string {
			p := copyGood(t, dir)
			require.NoError(t, os.Truncate(p, size))
			return p
		}
	}
	badMagic := func(s *format.Super) { s.Magic ^= 0xff }
	flipLabel := func(s *format.Super) { s.Label[0] ^= 'Z' }
	halfLeaf := func(s *format.Super) { s.LeafSize = s.NodeSize / 2 }
	supers := func(edit func(*format.Super), stale bool, offs ...int64) func(*testing.T, string) string {
		return func(t *testing.T, dir string) string {
			p := copyGood(t, dir)
			for _, off := range offs {
				badInputSuper(t, p, off, edit, stale)
			}
			return p
		}
	}
	const metaCut = 5300000 // inside the metadata chunk: the last tree blocks are gone
	cases := []badInputCase{
		{"missing file", func(_ *testing.T, dir string) string { return filepath.Join(dir, "missing.img") }, map[string]badInputWant{
			"fsck":       {1, "cannot open %s: no such file or directory", false},
			"dump-super": {1, "cannot open %s: no such file or directory", false},
			"dump-tree":  {1, "cannot open %s: no such file or directory", false},
			"mkfs":       {2, "%s does not exist: --size is required", false},
		}},
		{"missing directory", func(_ *testing.T, dir string) string { return filepath.Join(dir, "nodir", "x.img") }, map[string]badInputWant{
			"fsck":            {1, "cannot open %s: no such file or directory", false},
			"dump-super":      {1, "cannot open %s: no such file or directory", false},
			"dump-tree":       {1, "cannot open %s: no such file or directory", false},
			"mkfs --size 64M": {1, "open %s: no such file or directory", false},
		}},
		{"directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "adir")
			require.NoError(t, os.Mkdir(p, 0o755))
			return p
		}, map[string]badInputWant{
			"fsck":       {1, "cannot open %s: ", false},
			"dump-super": {1, "cannot open %s: ", false},
			"dump-tree":  {1, "cannot open %s: ", false},
			"mkfs":       {1, "open %s: is a directory", false},
		}},
		{"non-btrfs file", file("zeros", make([]byte, 2<<20)), map[string]badInputWant{
			"fsck":       {1, "%s: no valid btrfs superblock (primary at 65536: bad magic 0x0", false},
			"dump-super": {1, "bad magic on superblock at 65536 of %s", false},
			"dump-tree":  {1, "%s: no valid btrfs superblock (primary at 65536: bad magic 0x0", false},
			"mkfs":       {2, "%s: invalid mkfs option: size 2MiB is below the minimum", false},
		}},
		{"text file shorter than a superblock", file("hello", []byte("hello")), map[string]badInputWant{
			"fsck":       {1, "%s: no valid btrfs superblock (primary at 65536: beyond device end", false},
			"dump-super": {1, "superblock 0 at 65536 lies beyond the end of %s", false},
			"dump-tree":  {1, "%s: no valid btrfs superblock (primary at 65536: beyond device end", false},
			"mkfs":       {2, "%s: invalid mkfs option: size 0B is below the minimum", false},
		}},
		{"device below the minimum", file("small", make([]byte, 10<<20)), map[string]badInputWant{
			"mkfs":            {2, "%s: invalid mkfs option: size 10MiB is below the minimum 23MiB", false},
			"mkfs --size 20M": {2, "invalid mkfs option: size 20MiB is below the minimum 23MiB", false},
		}},
		{"truncated image", truncated(40 << 20), map[string]badInputWant{
			"fsck":       {1, "%s: image truncated: 41943040 bytes, the superblock's dev_item.total_bytes is 134217728", false},
			"dump-super": {0, "superblock: bytenr=65536, device=%s", true},
			"dump-tree":  {0, "fs tree key (FS_TREE ROOT_ITEM 0)", true},
			"mkfs":       {1, "%s: device already holds a btrfs filesystem", false},
		}},
		{"image truncated inside its tree blocks", truncated(metaCut), map[string]badInputWant{
			"fsck":       {1, "%s: image truncated: 5296128 bytes", false}, // whole 4 KiB blocks
			"dump-super": {0, "superblock: bytenr=65536, device=%s", true},
			"dump-tree":  {1, "cannot read tree block 5292032: %s: I/O beyond end of device", true},
			"mkfs":       {2, "%s: invalid mkfs option: size 5172KiB is below the minimum", false},
		}},
		{"wrong magic in every copy", supers(badMagic, false, format.SuperInfoOffset, mirror1), map[string]badInputWant{
			"fsck":       {1, "%s: no valid btrfs superblock (primary at 65536: bad magic 0x4d5f53665248", false},
			"dump-super": {1, "bad magic on superblock at 65536 of %s", false},
			"dump-tree":  {1, "%s: no valid btrfs superblock (primary at 65536: bad magic", false},
		}},
		{"wrong magic in the primary", supers(badMagic, false, format.SuperInfoOffset), map[string]badInputWant{
			"fsck":       {1, "superblock primary at 65536: bad superblock: no valid FS found, bad magic", true},
			"dump-super": {1, "bad magic on superblock at 65536 of %s", false},
			"dump-tree":  {1, "%s: primary superblock at 65536: bad magic 0x4d5f53665248", false},
			"mkfs":       {1, "%s: device already holds a btrfs filesystem", false},
		}},
		{"checksum mismatch in every copy", supers(flipLabel, true, format.SuperInfoOffset, mirror1), map[string]badInputWant{
			"fsck":       {1, "%s: no valid btrfs superblock (primary at 65536: xxhash64 checksum mismatch", false},
			"dump-super": {0, "[DON'T MATCH]", true},
			"dump-tree":  {1, "%s: no valid btrfs superblock (primary at 65536: xxhash64 checksum mismatch", false},
			"mkfs":       {1, "%s: device already holds a btrfs filesystem", false},
		}},
		{"checksum mismatch in the primary", supers(flipLabel, true, format.SuperInfoOffset), map[string]badInputWant{
			"fsck":       {1, "superblock primary at 65536: bad superblock: superblock checksum mismatch", true},
			"dump-super": {0, "[DON'T MATCH]", true},
			"dump-tree":  {1, "%s: primary superblock at 65536: xxhash64 checksum mismatch; dumping from the superblock copy at 67108864", false},
			"mkfs":       {1, "%s: device already holds a btrfs filesystem", false},
		}},
		// A superblock rule broken in the primary only: every opener takes
		// the mirror (checker.ReadSupers); dump-super prints the copy as it is.
		{"leafsize in the primary", supers(halfLeaf, false, format.SuperInfoOffset), map[string]badInputWant{
			"fsck":       {1, "superblock primary at 65536: bad superblock: invalid leafsize, have 8192 expect 16384", true},
			"dump-super": {0, "leafsize (deprecated)\t8192", true},
			"dump-tree":  {1, "%s: primary superblock at 65536: bad superblock: invalid leafsize, have 8192 expect 16384; dumping from the superblock copy at 67108864", false},
			"mkfs":       {1, "%s: device already holds a btrfs filesystem", false},
		}},
		{"tree block checksum mismatch", func(t *testing.T, dir string) string {
			p := copyGood(t, dir)
			leaf := fscktest.Find(t, p, func(b fscktest.BlockRef) bool { return b.Tree == format.FSTreeObjectID })
			fscktest.PatchBlock(t, p, leaf, false, func(b []byte) { b[len(b)-1] ^= 1 })
			return p
		}, map[string]badInputWant{
			"fsck":      {1, "bad tree block: root=5 block=5292032, checksum verify failed", true},
			"dump-tree": {1, "bad tree block: root=5 block=5292032, checksum verify failed", true},
			"mkfs":      {1, "%s: device already holds a btrfs filesystem", false},
		}},
	}
	for _, c := range cases {
		for _, command := range []string{"fsck", "dump-super", "dump-tree", "mkfs", "mkfs --size 64M", "mkfs --size 20M"} {
			w, ok := c.want[command]
			if !ok {
				continue
			}
			t.Run(c.name+"/"+command, func(t *testing.T) {
				dir := t.TempDir()
				img := c.make(t, dir)
				before := badInputState(t, img)
				args := append(strings.Fields(command), img)
				stdout, stderr, code := fscktest.Output(bin, args...)
				t.Logf("cowfs %s → exit %d\nstderr: %sstdout (first line): %s", strings.Join(args, " "), code,
					stderr, strings.SplitN(stdout, "\n", 2)[0])
				for _, s := range []string{stdout, stderr} {
					require.NotContains(t, s, "panic", "cowfs %v", args)
					require.NotContains(t, s, "goroutine ", "cowfs %v", args)
				}
				require.Equal(t, w.code, code, "cowfs %v\nstdout: %s\nstderr: %s", args, stdout, stderr)
				want := w.msg
				if strings.Contains(want, "%s") {
					want = fmt.Sprintf(want, img)
				}
				if w.onStdout {
					require.Empty(t, stderr, "cowfs %v", args)
					require.Contains(t, stdout, want, "cowfs %v", args)
				} else {
					require.Equal(t, 1, strings.Count(stderr, "\n"), "cowfs %v: one error line, got %q", args, stderr)
					require.True(t, strings.HasPrefix(stderr, "cowfs: "), "cowfs %v: %q", args, stderr)
					require.Contains(t, stderr, want, "cowfs %v", args)
				}
				require.Equal(t, before, badInputState(t, img), "cowfs %v changed %s", args, img)
				if d := filepath.Dir(img); filepath.Base(d) == "nodir" {
					_, err := os.Stat(d)
					require.True(t, os.IsNotExist(err), "cowfs %v created %s", args, d)
				}
			})
		}
	}
}

// badInputState is what "nothing written" compares: a missing path, a
// directory's entries, or a file's size, mtime and bytes.
func badInputState(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return "missing"
	}
	require.NoError(t, err)
	if st.IsDir() {
		ents, err := os.ReadDir(path)
		require.NoError(t, err)
		return fmt.Sprintf("dir with %d entries", len(ents))
	}
	return fmt.Sprintf("file size %d mtime %v sha256 %x", st.Size(), st.ModTime().UnixNano(), inspectFileHash(t, path))
}

// TestInspectFileHashSeesWrites: the sparse hash changes when a byte of
// data changes, when a hole is written, and when the size changes.
func TestInspectFileHashSeesWrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(64<<20))
	_, err = f.WriteAt([]byte("data"), 1<<20)
	require.NoError(t, err)
	seen := map[[32]byte]string{inspectFileHash(t, p): "first"}
	for _, change := range []struct {
		name string
		do   func() error
	}{
		{"a data byte", func() error { _, err := f.WriteAt([]byte("D"), 1<<20); return err }},
		{"a hole", func() error { _, err := f.WriteAt([]byte("h"), 32<<20); return err }},
		{"the size", func() error { return f.Truncate(48 << 20) }},
	} {
		require.NoError(t, change.do())
		h := inspectFileHash(t, p)
		require.NotContains(t, seen, h, "changing %s left the hash as after %s", change.name, seen[h])
		seen[h] = change.name
	}
}
