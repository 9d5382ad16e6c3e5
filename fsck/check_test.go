package fsck_test

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/fsck/fscktest"
)

const mib = 1 << 20

// check runs fsck.Check on the image at path.
func check(t *testing.T, path string) *fsck.Report {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true, Buffered: true})
	require.NoError(t, err)
	defer dev.Close()
	rep, err := fsck.Check(dev, fsck.Options{})
	require.NoError(t, err)
	return rep
}

// requireClean fails with every problem listed, and when a family of
// cross-reference checks was skipped.
func requireClean(t *testing.T, rep *fsck.Report) {
	t.Helper()
	for _, p := range rep.Problems {
		t.Errorf("problem: %s", p.Message)
	}
	require.True(t, rep.Clean(), rep.Summary())
	require.NoError(t, rep.Err())
	require.Empty(t, rep.Skipped, "every check should have run")
}

// requireTrees checks that every required tree was walked.
func requireTrees(t *testing.T, rep *fsck.Report) {
	t.Helper()
	ids := map[uint64]bool{}
	for _, ts := range rep.Trees {
		ids[ts.Tree.ID] = true
		require.Positive(t, ts.Blocks+len(rep.Trees), "tree %d", ts.Tree.ID)
	}
	for _, id := range []uint64{1, 2, 3, 4, 5, 7, format.DataRelocTreeObjectID} {
		require.True(t, ids[id], "tree %d not walked", id)
	}
}

func TestCheckCleanMkfs(t *testing.T) {
	cases := []struct {
		nodesize, csum string
		extra          []string
	}{
		{"4096", "crc32c", fscktest.Minimal},
		{"16384", "xxhash", fscktest.Minimal},
		{"65536", "sha256", fscktest.Minimal},
		{"16384", "blake2", fscktest.Minimal},
		{"8192", "crc32c", nil}, // mkfs defaults: DUP metadata, free-space tree
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%s-%d", c.nodesize, c.csum, len(c.extra)), func(t *testing.T) {
			img := fscktest.Mkfs(t, 256*mib, append([]string{"-n", c.nodesize, "--csum", c.csum}, c.extra...)...)
			rep := check(t, img)
			requireClean(t, rep)
			requireTrees(t, rep)
			require.GreaterOrEqual(t, rep.Blocks, 8)
			require.Positive(t, rep.Items)
		})
	}
}

// rootdirImage is a minimal image whose fs tree was filled by mkfs.btrfs
// --rootdir: with 4 KiB nodes its fs tree has two levels of nodes.
func rootdirImage(t *testing.T) string {
	t.Helper()
	dir := fscktest.RootDir(t, 1500)
	return fscktest.Mkfs(t, 128*mib, append([]string{"-n", "4096", "--rootdir", dir}, fscktest.Minimal...)...)
}

func TestCheckCleanRootdir(t *testing.T) {
	img := rootdirImage(t)
	rep := check(t, img)
	requireClean(t, rep)
	requireTrees(t, rep)
	nodes := 0
	for _, b := range fscktest.Blocks(t, img) {
		if b.Level > 0 {
			nodes++
		}
	}
	require.Greater(t, nodes, 1, "the test image should have internal nodes")
	blocks, items := 0, 0
	for _, ts := range rep.Trees {
		blocks += ts.Blocks
		items += ts.Items
		if ts.Tree.ID == format.FSTreeObjectID {
			require.Greater(t, ts.Blocks, nodes, "fs tree blocks")
		}
	}
	require.Equal(t, rep.Blocks, blocks, "per-tree block counts add up")
	require.Equal(t, rep.Items, items, "per-tree item counts add up")
	require.Equal(t, len(fscktest.Blocks(t, img)), rep.Blocks)
}

func TestCheckCleanKernel(t *testing.T) {
	img := fscktest.Mkfs(t, 512*mib, fscktest.Minimal...)
	fscktest.Populate(t, img, fscktest.KernelFill(t))
	rep := check(t, img)
	requireClean(t, rep)
	requireTrees(t, rep)
	subvols := 0
	for _, ts := range rep.Trees {
		if ts.Tree.ID >= format.FirstFreeObjectID && format.IsSubvolumeID(ts.Tree.ID) {
			subvols++
		}
	}
	require.Equal(t, 2, subvols, "the subvolume and its snapshot")
	fscktest.NeedTools(t, "btrfs")
	fscktest.Run(t, "btrfs", "check", img) // the oracle agrees
}

func TestCheckCleanLog(t *testing.T) {
	img := fscktest.Mkfs(t, 512*mib, fscktest.Minimal...)
	crash := fscktest.PopulateWithLog(t, img, fscktest.LogFill(t))
	rep := check(t, crash)
	requireClean(t, rep)
	logs := 0
	for _, ts := range rep.Trees {
		if ts.Tree.ID == format.TreeLogObjectID {
			logs++
		}
	}
	require.GreaterOrEqual(t, logs, 2, "the log root tree and a log tree")
}

// problemsWith returns the problems of a kind (and rule, unless 0).
func problemsWith(rep *fsck.Report, kind fsck.Kind, rule int) []fsck.Problem {
	var out []fsck.Problem
	for _, p := range rep.Problems {
		if p.Kind == kind && (rule == 0 || p.Rule == rule) {
			out = append(out, p)
		}
	}
	return out
}

// requireProblem asserts a problem of kind and rule at block, and that the
// walk still reached the rest of the filesystem.
func requireProblem(t *testing.T, rep *fsck.Report, kind fsck.Kind, rule int, block uint64, clean *fsck.Report) fsck.Problem {
	t.Helper()
	for _, p := range rep.Problems {
		t.Logf("problem: %s", p.Message)
	}
	for _, p := range problemsWith(rep, kind, rule) {
		if p.Block == block {
			require.True(t, errors.Is(p.Err, format.ErrCorrupt) || kind != fsck.KindBlock, "%v", p.Err)
			require.Len(t, rep.Trees, len(clean.Trees), "the walk goes on past the bad block")
			return p
		}
	}
	t.Fatalf("no %v problem with rule %d at block %d", kind, rule, block)
	return fsck.Problem{}
}

func isLeafOf(tree uint64) func(fscktest.BlockRef) bool {
	return func(b fscktest.BlockRef) bool { return b.Tree == tree && b.Level == 0 && b.Items >= 3 }
}

func isNodeOf(tree uint64) func(fscktest.BlockRef) bool {
	return func(b fscktest.BlockRef) bool { return b.Tree == tree && b.Level > 0 && b.Items >= 3 }
}

func TestCheckFindsCorruption(t *testing.T) {
	base := rootdirImage(t)
	clean := check(t, base)
	requireClean(t, clean)
	fs := format.FSTreeObjectID

	t.Run("flipped byte in a leaf", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		leaf := fscktest.Find(t, img, isLeafOf(fs))
		fscktest.PatchBlock(t, img, leaf, false, func(b []byte) { b[len(b)-100] ^= 0x40 })
		p := requireProblem(t, check(t, img), fsck.KindBlock, checker.RuleLevelCsum, leaf.Bytenr, clean)
		require.Contains(t, p.Message, "checksum verify failed")
	})
	t.Run("wrong header bytenr", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		leaf := fscktest.Find(t, img, isLeafOf(fs))
		fscktest.PatchBlock(t, img, leaf, true, func(b []byte) { format.Header(b).SetBytenr(leaf.Bytenr + 4096) })
		requireProblem(t, check(t, img), fsck.KindBlock, checker.RuleBytenr, leaf.Bytenr, clean)
	})
	t.Run("child level differs from its node pointer", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		leaf := fscktest.Find(t, img, func(b fscktest.BlockRef) bool { return isLeafOf(fs)(b) && b.Parent != 0 })
		fscktest.PatchBlock(t, img, leaf, true, func(b []byte) { format.Header(b).SetLevel(1) })
		requireProblem(t, check(t, img), fsck.KindBlock, checker.RuleLevel, leaf.Bytenr, clean)
	})
	t.Run("stale generation in a parent pointer", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		node := fscktest.Find(t, img, isNodeOf(fs))
		var child uint64
		fscktest.PatchBlock(t, img, node, true, func(b []byte) {
			n := format.Node(b)
			child = n.BlockPtr(1)
			n.SetPtrGeneration(1, n.PtrGeneration(1)-1)
		})
		requireProblem(t, check(t, img), fsck.KindBlock, checker.RuleTransid, child, clean)
	})
	t.Run("swapped keys", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		leaf := fscktest.Find(t, img, isLeafOf(fs))
		fscktest.PatchBlock(t, img, leaf, true, func(b []byte) {
			l := format.Leaf(b)
			k1, k2 := l.ItemKey(1), l.ItemKey(2)
			l.SetItemKey(1, k2)
			l.SetItemKey(2, k1)
		})
		requireProblem(t, check(t, img), fsck.KindBlock, checker.RuleKeyOrder, leaf.Bytenr, clean)
	})
	t.Run("two pointers to one block", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		node := fscktest.Find(t, img, isNodeOf(fs))
		var child uint64
		fscktest.PatchBlock(t, img, node, true, func(b []byte) {
			n := format.Node(b)
			child = n.BlockPtr(1)
			n.SetBlockPtr(2, child)
			n.SetPtrGeneration(2, n.PtrGeneration(1))
		})
		requireProblem(t, check(t, img), fsck.KindDuplicate, 0, child, clean)
	})
	t.Run("corrupt primary superblock, good mirror", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		fscktest.WriteAt(t, img, []byte{0xff}, format.SuperInfoOffset+0x100)
		rep := check(t, img)
		p := requireProblem(t, rep, fsck.KindSuper, checker.RuleSuperMagic, format.SuperInfoOffset, clean)
		require.Contains(t, p.Message, "primary")
		require.Equal(t, clean.Blocks, rep.Blocks, "every block is still checked, through the mirror")
		require.Len(t, rep.Problems, 1)
	})
	t.Run("mirror of another filesystem", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		off := format.MirrorOffset(1)
		f, err := os.OpenFile(img, os.O_RDWR, 0)
		require.NoError(t, err)
		buf := make([]byte, format.SuperSize)
		_, err = f.ReadAt(buf, off)
		require.NoError(t, err)
		s, err := format.DecodeSuper(buf)
		require.NoError(t, err)
		s.Fsid[0] ^= 0xff
		s.DevItem.Fsid = s.Fsid
		_, err = f.WriteAt(s.EncodeWithCsum(), off)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		p := requireProblem(t, check(t, img), fsck.KindSuper, checker.RuleSuperFsid, uint64(off), clean)
		require.Contains(t, p.Message, "mirror 1")
	})
}

// TestCheckDroppingTree: a tree whose deletion has begun is not walked (a
// warning), and a required one is then reported missing.
func TestCheckDroppingTree(t *testing.T) {
	img := fscktest.Mkfs(t, 64*mib, fscktest.Minimal...)
	root := fscktest.Find(t, img, func(b fscktest.BlockRef) bool { return b.Tree == format.RootTreeObjectID })
	fscktest.PatchBlock(t, img, root, true, func(b []byte) {
		l := format.Leaf(b)
		for i := range l.NrItems() {
			if k := l.ItemKey(i); k.ObjectID == format.CsumTreeObjectID && k.Type == format.RootItemKey {
				l.ItemData(i)[220] = 1 // drop_progress objectid
			}
		}
	})
	rep := check(t, img)
	require.Len(t, rep.Warnings, 1)
	require.Contains(t, rep.Warnings[0].Message, "CSUM_TREE is being deleted")
	require.Contains(t, rep.Skipped, "#65, #67 (data checksums)", "the checks needing the csum tree did not run")
	missing := problemsWith(rep, fsck.KindMissingTree, 46)
	require.Len(t, missing, 1, "%v", rep.Problems)
	require.Contains(t, missing[0].Message, "CSUM_TREE missing: its deletion has begun")
}

// TestCheckMissingTree renames the data-reloc tree's ROOT_ITEM (it is the
// root tree's last key, so the order holds): the tree is missing, and its
// block, now reached as subvolume 300, has the wrong owner.
func TestCheckMissingTree(t *testing.T) {
	img := fscktest.Mkfs(t, 64*mib, fscktest.Minimal...)
	root := fscktest.Find(t, img, func(b fscktest.BlockRef) bool { return b.Tree == format.RootTreeObjectID })
	fscktest.PatchBlock(t, img, root, true, func(b []byte) {
		l := format.Leaf(b)
		last := l.NrItems() - 1
		k := l.ItemKey(last)
		require.Equal(t, format.DataRelocTreeObjectID, k.ObjectID)
		k.ObjectID = 300
		l.SetItemKey(last, k)
	})
	rep := check(t, img)
	missing := problemsWith(rep, fsck.KindMissingTree, 46)
	require.Len(t, missing, 1, "%v", rep.Problems)
	require.Equal(t, format.DataRelocTreeObjectID, missing[0].Tree)
	require.Contains(t, missing[0].Message, "DATA_RELOC_TREE missing: no ROOT_ITEM points to it")
	require.Len(t, problemsWith(rep, fsck.KindBlock, checker.RuleOwner), 1)
}

func TestCheckMissingMirrorIsNoProblem(t *testing.T) {
	img := fscktest.Mkfs(t, 64*mib, fscktest.Minimal...) // the first mirror would start at 64 MiB
	rep := check(t, img)
	requireClean(t, rep)
}

func TestCheckFatalInput(t *testing.T) {
	base := fscktest.Mkfs(t, 128*mib, fscktest.Minimal...)
	t.Run("truncated", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		fscktest.Run(t, "truncate", "-s", "20M", img)
		_, err := checkErr(t, img)
		var te *fsck.TruncatedError
		require.ErrorAs(t, err, &te)
		require.NotContains(t, err.Error(), "\n")
	})
	t.Run("all superblocks bad", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		fscktest.WriteAt(t, img, []byte("garbage!"), format.SuperInfoOffset+0x40)
		fscktest.WriteAt(t, img, []byte("garbage!"), format.MirrorOffset(1)+0x40)
		_, err := checkErr(t, img)
		require.ErrorIs(t, err, disk.ErrNoSuper)
		require.NotContains(t, err.Error(), "\n")
	})
}

func TestCheckAbsurdGeometry(t *testing.T) {
	img := fscktest.Mkfs(t, 64*mib, fscktest.Minimal...)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	require.NoError(t, err)
	buf := make([]byte, format.SuperSize)
	_, err = f.ReadAt(buf, format.SuperInfoOffset)
	require.NoError(t, err)
	s, err := format.DecodeSuper(buf)
	require.NoError(t, err)
	s.NodeSize = 1 << 31 // would make every block read a 2 GiB allocation
	_, err = f.WriteAt(s.EncodeWithCsum(), format.SuperInfoOffset)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = checkErr(t, img)
	require.ErrorIs(t, err, fsck.ErrGeometry)
}

func TestCheckMaxProblems(t *testing.T) {
	img := fscktest.Copy(t, rootdirImage(t))
	for _, b := range fscktest.Blocks(t, img) {
		if b.Level == 0 && b.Parent != 0 {
			fscktest.PatchBlock(t, img, b, false, func(p []byte) { p[len(p)-1] ^= 1 })
		}
	}
	dev, err := disk.OpenFile(img, disk.FileOptions{ReadOnly: true, Buffered: true})
	require.NoError(t, err)
	defer dev.Close()
	opts := fsck.Options{MaxProblems: 3}
	require.Contains(t, opts.String(), "MaxProblems: 3")
	rep, err := fsck.Check(dev, opts)
	require.NoError(t, err)
	require.Len(t, rep.Problems, 3)
	require.True(t, rep.Truncated)
	require.Contains(t, rep.Summary(), "3 problems found (stopped early)")
	require.ErrorIs(t, rep.Err(), fsck.ErrProblems)
	require.Contains(t, rep.Err().Error(), rep.Problems[2].Message)
}

func checkErr(t *testing.T, path string) (*fsck.Report, error) {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true, Buffered: true})
	require.NoError(t, err)
	defer dev.Close()
	return fsck.Check(dev, fsck.Options{})
}

// BenchmarkCheck measures a whole check (walk and cross-references) of an
// in-memory image with 1500 files and 4 KiB nodes.
func BenchmarkCheck(b *testing.B) {
	dir := fscktest.RootDir(b, 1500)
	path := fscktest.Mkfs(b, 128*mib, append([]string{"-n", "4096", "--rootdir", dir}, fscktest.Minimal...)...)
	raw, err := os.ReadFile(path)
	require.NoError(b, err)
	dev := disk.NewMemDevice(int64(len(raw)))
	copy(dev.Bytes(), raw)
	for b.Loop() {
		rep, err := fsck.Check(dev, fsck.Options{})
		if err != nil || !rep.Clean() {
			b.Fatal(err, rep.Problems)
		}
	}
}
