package fsck_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/fsck/fscktest"
)

// corruption damages exactly one thing of a clean image.
type corruption struct {
	name string
	kind fsck.Kind
	rule int
	// oracle is what btrfs check 6.2 must do; its output must contain says.
	oracle oracle
	says   string
	edit   func(t *testing.T, img string)
}

// oracle is what btrfs check must do with a corrupted image.
type oracle int

const (
	mustFail oracle = iota // fail: btrfs-format.md §3.7 says check catches it
	mustSay                // print says, yet exit 0 (check 6.2 reports but does not count it)
	mayPass                // anything: logged (check 6.2 misses it)
)

// runCorruptions applies each corruption to a copy of base and requires
// our fsck to report its rule, and btrfs check to fail where it should.
func runCorruptions(t *testing.T, base string, cases []corruption) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { applyCorruption(t, base, c) })
	}
}

// applyCorruption runs one case of runCorruptions and returns our report.
func applyCorruption(t *testing.T, base string, c corruption) *fsck.Report {
	t.Helper()
	img := fscktest.Copy(t, base)
	c.edit(t, img)
	rep := check(t, img)
	requireRule(t, rep, c.kind, c.rule)
	switch c.oracle {
	case mustFail:
		requireBtrfsCheck(t, img, false, c.says)
	case mustSay:
		requireBtrfsCheck(t, img, true, c.says)
	default:
		logBtrfsCheck(t, img)
	}
	return rep
}

// TestXrefExtents corrupts the extent tree and its references (#49–#53).
func TestXrefExtents(t *testing.T) {
	t.Parallel()
	base := kernelImage(t, fscktest.Minimal...)
	runCorruptions(t, base, []corruption{
		{"tree block without extent item", fsck.KindExtentRef, 50, mustFail, "extent item 0, found 1", func(t *testing.T, img string) {
			fscktest.DeleteItem(t, img, extentItem(t, img, fsLeaf(t, img).Bytenr))
		}},
		{"tree block refs", fsck.KindExtentRef, 50, mustFail, "extent item 2, found 1", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, extentItem(t, img, fsLeaf(t, img).Bytenr), func(l format.Leaf, s int) {
				addU64(l.ItemData(s), 1)
			})
		}},
		{"tree block backref root", fsck.KindExtentRef, 50, mustFail, "root 5 has no backref item", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, extentItem(t, img, fsLeaf(t, img).Bytenr), func(l format.Leaf, s int) {
				le.PutUint64(l.ItemData(s)[25:], format.CsumTreeObjectID) // inline TREE_BLOCK_REF root
			})
		}},
		{"tree block level", fsck.KindExtentRef, 50, mayPass, "", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, extentItem(t, img, fsLeaf(t, img).Bytenr), func(l format.Leaf, s int) {
				setKey(l, s, func(k *format.Key) { k.Offset = 1 }) // caught by btrfs check 6.19, not 6.2
			})
		}},
		{"data extent without extent item", fsck.KindExtentRef, 51, mustFail, "extent item 0, found 1", func(t *testing.T, img string) {
			_, fe := bigData(t, img)
			fscktest.DeleteItem(t, img, extentItem(t, img, fe.DiskBytenr))
		}},
		{"data extent refs", fsck.KindExtentRef, 51, mustFail, "extent item 2, found 1", func(t *testing.T, img string) {
			_, fe := bigData(t, img)
			fscktest.EditItem(t, img, extentItem(t, img, fe.DiskBytenr), func(l format.Leaf, s int) {
				addU64(l.ItemData(s), 1)
			})
		}},
		{"data ref count", fsck.KindExtentRef, 51, mustFail, "referencer count mismatch (root 5", func(t *testing.T, img string) {
			_, fe := bigData(t, img)
			fscktest.EditItem(t, img, extentItem(t, img, fe.DiskBytenr), func(l format.Leaf, s int) {
				addU64(l.ItemData(s), 1)      // refs
				addU32(l.ItemData(s)[49:], 1) // inline EXTENT_DATA_REF count
			})
		}},
		{"data ref root", fsck.KindExtentRef, 51, mustFail, "referencer count mismatch (root 256", func(t *testing.T, img string) {
			_, fe := bigData(t, img)
			fscktest.EditItem(t, img, extentItem(t, img, fe.DiskBytenr), func(l format.Leaf, s int) {
				le.PutUint64(l.ItemData(s)[25:], 256)
			})
		}},
		{"data extent length", fsck.KindExtentRef, 51, mustFail, "size mimsmatch", func(t *testing.T, img string) {
			_, fe := bigData(t, img)
			fscktest.EditItem(t, img, extentItem(t, img, fe.DiskBytenr), func(l format.Leaf, s int) {
				setKey(l, s, func(k *format.Key) { k.Offset += 4096 })
			})
		}},
		{"extent without referencer", fsck.KindExtentRef, 52, mustFail, "extent item 1, found 0", func(t *testing.T, img string) {
			ref, _ := bigData(t, img)
			fscktest.DeleteItem(t, img, ref)
		}},
		// btrfs check 6.2's root-item phase looks for a newer root block, not
		// for any newer block: it passes this image.
		{"stale root item", fsck.KindStaleRoot, 49, mayPass, "", func(t *testing.T, img string) {
			ri := rootItem(t, img, format.FSTreeObjectID)
			fscktest.EditItem(t, img, extentItem(t, img, fsLeaf(t, img).Bytenr), func(l format.Leaf, s int) {
				le.PutUint64(l.ItemData(s)[8:], ri.Generation+1) // newer than its root
			})
		}},
		// A root block of the old backref revision calls for a shared ref
		// to itself; the extent still has the tree ref to its owner.
		{"root block backref revision", fsck.KindExtentRef, 50, mustFail, "has no backref item in extent tree", func(t *testing.T, img string) {
			root := fscktest.Find(t, img, func(b fscktest.BlockRef) bool { return b.Tree == format.FSTreeObjectID && b.Parent == 0 })
			fscktest.PatchBlock(t, img, root, true, func(b []byte) {
				h := format.Header(b)
				h.SetFlagsRev(h.Flags(), 0)
			})
		}},
		{"key in the wrong tree", fsck.KindMisplacedKey, 53, mustFail, "Invalid key type(DEV_EXTENT) found in root(CSUM_TREE)", func(t *testing.T, img string) {
			items := fscktest.Items(t, img, format.CsumTreeObjectID, fscktest.KeyIs(0, format.ExtentCsumKey))
			ref := items[len(items)-1] // the last key of the tree: its new type keeps the order
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) {
				setKey(l, s, func(k *format.Key) { k.Type = format.DevExtentKey })
			})
		}},
	})
}

// blockGroup returns the BLOCK_GROUP_ITEM of the first group with a type
// bit of flags.
func blockGroup(t *testing.T, img string, flags uint64) fscktest.ItemRef {
	t.Helper()
	return fscktest.FindItem(t, img, format.ExtentTreeObjectID, func(k format.Key, data []byte) bool {
		return k.Type == format.BlockGroupItemKey && le.Uint64(data[16:])&flags != 0
	})
}

// dataDevExtent returns the dev extent of the DATA chunk holding big.bin.
func dataDevExtent(t *testing.T, img string) fscktest.ItemRef {
	t.Helper()
	_, fe := bigData(t, img)
	start, _, ok := fscktest.Open(t, img).Chunks.Lookup(fe.DiskBytenr)
	if !ok {
		t.Fatal("big.bin's data is in no chunk")
	}
	return fscktest.FindItem(t, img, format.DevTreeObjectID, func(k format.Key, data []byte) bool {
		return k.Type == format.DevExtentKey && le.Uint64(data[16:]) == start
	})
}

// TestXrefAllocation corrupts chunks, block groups, dev extents and the
// byte counters (#54–#57).
func TestXrefAllocation(t *testing.T) {
	t.Parallel()
	base := kernelImage(t, fscktest.Minimal...)
	runCorruptions(t, base, []corruption{
		{"chunk without block group", fsck.KindAllocation, 54, mustFail, "is not found in block group", func(t *testing.T, img string) {
			fscktest.DeleteItem(t, img, blockGroup(t, img, format.BlockGroupMetadata))
		}},
		{"block group flags", fsck.KindAllocation, 54, mustSay, "mismatch with block group", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, blockGroup(t, img, format.BlockGroupMetadata), func(l format.Leaf, s int) {
				le.PutUint64(l.ItemData(s)[16:], format.BlockGroupMetadata|format.BlockGroupDup)
			})
		}},
		{"dev extent deleted", fsck.KindAllocation, 55, mustFail, "is not found in dev extent", func(t *testing.T, img string) {
			fscktest.DeleteItem(t, img, dataDevExtent(t, img))
		}},
		{"dev extent length", fsck.KindAllocation, 55, mustFail, "mismatch dev extent", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, dataDevExtent(t, img), func(l format.Leaf, s int) {
				addU64(l.ItemData(s)[24:], 1<<20)
			})
		}},
		// btrfs-format.md §3.8: only lowmem mode notices.
		{"dev extent chunk_offset", fsck.KindAllocation, 55, mayPass, "", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, dataDevExtent(t, img), func(l format.Leaf, s int) {
				addU64(l.ItemData(s)[16:], 1<<20) // still inside the right chunk
			})
		}},
		{"device bytes_used", fsck.KindAllocation, 56, mustFail, "chunk allocation", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, format.ChunkTreeObjectID, fscktest.KeyIs(format.DevItemsObjectID, format.DevItemKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { addU64(l.ItemData(s)[16:], 1<<20) })
			fscktest.PatchSuper(t, img, func(s *format.Super) { s.DevItem.BytesUsed += 1 << 20 })
		}},
		// btrfs check 6.19 warns about this, 6.2 says nothing.
		{"superblock dev_item", fsck.KindAllocation, 56, mayPass, "", func(t *testing.T, img string) {
			fscktest.PatchSuper(t, img, func(s *format.Super) { s.DevItem.BytesUsed += 1 << 20 })
		}},
		{"superblock total_bytes", fsck.KindAllocation, 56, mustFail, "mounting this fs may fail", func(t *testing.T, img string) {
			fscktest.PatchSuper(t, img, func(s *format.Super) { s.TotalBytes -= 1 << 20 })
		}},
		{"block group used", fsck.KindAllocation, 57, mustFail, "but extent items used", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, blockGroup(t, img, format.BlockGroupMetadata), func(l format.Leaf, s int) {
				addU64(l.ItemData(s), 16384)
			})
		}},
		{"superblock bytes_used", fsck.KindAllocation, 57, mustFail, "super bytes used", func(t *testing.T, img string) {
			fscktest.PatchSuper(t, img, func(s *format.Super) { s.BytesUsed += 16384 })
		}},
	})
}

// TestXrefFreeSpaceTree corrupts the free-space tree of a default mkfs.btrfs
// image (DUP metadata, free-space tree) the kernel filled (#58).
func TestXrefFreeSpaceTree(t *testing.T) {
	t.Parallel()
	base := kernelImage(t)
	requireNoXref(t, check(t, base))
	runCorruptions(t, base, []corruption{
		// The last items belong to the last block group (mkfs.btrfs leaves
		// FREE_SPACE_INFOs of groups it deleted at the front).
		{"free extent length", fsck.KindFreeSpace, 58, mustFail, "", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, lastItem(t, img, format.FreeSpaceTreeObjectID, format.FreeSpaceExtentKey), func(l format.Leaf, s int) {
				setKey(l, s, func(k *format.Key) { k.Offset -= 65536 })
			})
		}},
		{"extent count", fsck.KindFreeSpace, 58, mustFail, "", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, lastItem(t, img, format.FreeSpaceTreeObjectID, format.FreeSpaceInfoKey), func(l format.Leaf, s int) {
				addU32(l.ItemData(s), 1)
			})
		}},
		// Past the last block group; btrfs check 6.2 looks for the next
		// group at or after the key, so it misses one before the last group.
		{"FREE_SPACE_INFO without block group", fsck.KindFreeSpace, 58, mustFail, "space info key for a block group that doesn't exist", func(t *testing.T, img string) {
			items := fscktest.Items(t, img, format.FreeSpaceTreeObjectID, func(format.Key, []byte) bool { return true })
			last := items[len(items)-1]
			bg := lastItem(t, img, format.ExtentTreeObjectID, format.BlockGroupItemKey).Key
			orphan := format.Key{ObjectID: bg.ObjectID + bg.Offset, Type: format.FreeSpaceInfoKey, Offset: 8 * mib}
			fscktest.EditItem(t, img, last, func(l format.Leaf, s int) {
				require.NoError(t, fscktest.InsertItem(l, s+1, orphan, make([]byte, 8)))
			})
		}},
	})
}

// TestXrefFreeSpaceBitmaps: 3000 small files, every other one deleted,
// fragment the data block group until the kernel keeps its free space in
// bitmaps; then one bit is flipped.
func TestXrefFreeSpaceBitmaps(t *testing.T) {
	t.Parallel()
	base := fscktest.Mkfs(t, 512*mib)
	fscktest.Populate(t, base, fscktest.FragmentFill(t, 3000))
	require.NotEmpty(t, fscktest.Items(t, base, format.FreeSpaceTreeObjectID, fscktest.KeyIs(0, format.FreeSpaceBitmapKey)),
		"the kernel should have switched to bitmaps")
	requireClean(t, check(t, base))
	requireBtrfsCheck(t, base, true, "no error found")
	runCorruptions(t, base, []corruption{
		{"bitmap bit", fsck.KindFreeSpace, 58, mustFail, "cache appears valid but isn't", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, format.FreeSpaceTreeObjectID, fscktest.KeyIs(0, format.FreeSpaceBitmapKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { l.ItemData(s)[10] ^= 0x10 })
		}},
	})
	runFreeSpaceCases(t, base, []fsCase{
		{corruption{"bitmap size", fsck.KindFreeSpace, 58, mustFail, "free space info recorded", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, format.FreeSpaceTreeObjectID, fscktest.KeyIs(0, format.FreeSpaceBitmapKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) {
				setKey(l, s, func(k *format.Key) { k.Offset /= 2 })
			})
		}}, "FREE_SPACE_BITMAP of"},
	})
}

// TestXrefFsRoots corrupts inodes and names of the fs tree (#60–#65).
func TestXrefFsRoots(t *testing.T) {
	t.Parallel()
	base := kernelImage(t, fscktest.Minimal...)
	fs := format.FSTreeObjectID
	runCorruptions(t, base, []corruption{
		{"root dir INODE_REF", fsck.KindFsTree, 60, mustFail, "root 5 inode 256 errors", func(t *testing.T, img string) {
			fscktest.DeleteItem(t, img, fscktest.FindItem(t, img, fs, fscktest.KeyIs(256, format.InodeRefKey)))
		}},
		{"ROOT_ITEM root_dirid", fsck.KindFsTree, 60, mustFail, "root 5 root dir 100000 not found", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, format.RootTreeObjectID, fscktest.KeyIs(fs, format.RootItemKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { le.PutUint64(l.ItemData(s)[168:], 100000) })
		}},
		{"nlink", fsck.KindFsTree, 61, mustFail, "link count wrong", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, fs, fscktest.KeyIs(inode(t, img, fs, "small.bin"), format.InodeItemKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { addU32(l.ItemData(s)[40:], 1) })
		}},
		{"DIR_INDEX index", fsck.KindFsTree, 62, mustFail, "index mismatch", func(t *testing.T, img string) {
			dir := inode(t, img, fs, "dir")
			items := fscktest.Items(t, img, fs, fscktest.KeyIs(dir, format.DirIndexKey))
			fscktest.EditItem(t, img, items[len(items)-1], func(l format.Leaf, s int) {
				setKey(l, s, func(k *format.Key) { k.Offset += 100 })
			})
		}},
		{"DIR_INDEX type", fsck.KindFsTree, 62, mustFail, "filetype mismatch", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, entry(t, img, fs, "big.bin"), func(l format.Leaf, s int) {
				l.ItemData(s)[29] = format.FtSymlink
			})
		}},
		{"DIR_ITEM deleted", fsck.KindFsTree, 62, mustFail, "no dir item", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, fs, func(k format.Key, _ []byte) bool {
				return k.Type == format.DirItemKey && k.Offset == format.NameHash([]byte("big.bin"))
			})
			fscktest.DeleteItem(t, img, ref)
		}},
		{"directory size", fsck.KindFsTree, 63, mustFail, "dir isize wrong", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, fs, fscktest.KeyIs(inode(t, img, fs, "dir"), format.InodeItemKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { addU64(l.ItemData(s)[16:], 2) })
		}},
		{"nbytes", fsck.KindFsTree, 64, mustFail, "nbytes wrong", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, fs, fscktest.KeyIs(inode(t, img, fs, "big.bin"), format.InodeItemKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { addU64(l.ItemData(s)[24:], 4096) })
		}},
		// No reader decodes an other_encoding: cowfs fails every read of
		// the file (EOPNOTSUPP). btrfs check 6.2 looks at it only in a
		// prealloc extent.
		{"inline other_encoding", fsck.KindFsTree, 64, mayPass, "", func(t *testing.T, img string) {
			ref, fe := fileExtent(t, img, fs, inode(t, img, fs, "inline.txt"))
			require.Equal(t, format.FileExtentInline, fe.Type)
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { le.PutUint16(l.ItemData(s)[18:], 1) })
		}},
		{"prealloc other_encoding", fsck.KindFsTree, 64, mustFail, "bad file extent", func(t *testing.T, img string) {
			ref, fe := fileExtent(t, img, fs, inode(t, img, fs, "prealloc.bin"))
			require.Equal(t, format.FileExtentPrealloc, fe.Type)
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { le.PutUint16(l.ItemData(s)[18:], 1) })
		}},
		{"csum item deleted", fsck.KindFsTree, 65, mustFail, "some csum missing", func(t *testing.T, img string) {
			fscktest.DeleteItem(t, img, fscktest.FindItem(t, img, format.CsumTreeObjectID, fscktest.KeyIs(0, format.ExtentCsumKey)))
		}},
		{"NODATASUM with checksums", fsck.KindFsTree, 65, mustFail, "odd csum item", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, fs, fscktest.KeyIs(inode(t, img, fs, "big.bin"), format.InodeItemKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { l.ItemData(s)[64] |= byte(format.InodeNoDataSum) })
		}},
	})
}

// TestXrefCsums corrupts the csum tree and the data (#67).
func TestXrefCsums(t *testing.T) {
	t.Parallel()
	base := kernelImage(t, fscktest.Minimal...)
	runCorruptions(t, base, []corruption{
		// btrfs check 6.2 notices only checksums before some extent item:
		// put them in the METADATA chunk, past its tree blocks.
		{"csum item outside data", fsck.KindCsum, 67, mustFail, "there is no extent record", func(t *testing.T, img string) {
			first := fscktest.FindItem(t, img, format.CsumTreeObjectID, fscktest.KeyIs(0, format.ExtentCsumKey))
			meta := blockGroup(t, img, format.BlockGroupMetadata).Key
			fscktest.EditItem(t, img, first, func(l format.Leaf, s int) {
				k := first.Key
				k.Offset = meta.ObjectID + meta.Offset/2
				require.Less(t, k.Offset, first.Key.Offset)
				require.NoError(t, fscktest.InsertItem(l, s, k, first.Data))
			})
		}},
	})
	t.Run("data checksum", func(t *testing.T) {
		img := fscktest.Copy(t, base)
		_, fe := bigData(t, img)
		fscktest.PatchData(t, img, fe.DiskBytenr+5000, 1, func(p []byte) { p[0] ^= 0xff })
		requireClean(t, check(t, img))
		rep := checkWith(t, img, fsck.Options{CheckDataCsum: true})
		p := requireRule(t, rep, fsck.KindCsum, 67)
		require.Contains(t, p.Message, fmt.Sprint(fe.DiskBytenr+4096))
		requireBtrfsCheck(t, img, true, "")
		requireBtrfsCheck(t, img, false, "expected csum", "--check-data-csum")
	})
}

// TestXrefRootRefs corrupts subvolume references (#68).
func TestXrefRootRefs(t *testing.T) {
	t.Parallel()
	base := kernelImage(t, fscktest.Minimal...)
	root := format.RootTreeObjectID
	runCorruptions(t, base, []corruption{
		{"fs tree refs 0", fsck.KindRootRef, 68, mustFail, "fs tree 5 refs 1 not found", func(t *testing.T, img string) {
			ref := fscktest.FindItem(t, img, root, fscktest.KeyIs(format.FSTreeObjectID, format.RootItemKey))
			fscktest.EditItem(t, img, ref, func(l format.Leaf, s int) { le.PutUint32(l.ItemData(s)[216:], 0) })
		}},
		{"ROOT_BACKREF deleted", fsck.KindRootRef, 68, mustFail, "no root backref", func(t *testing.T, img string) {
			fscktest.DeleteItem(t, img, fscktest.FindItem(t, img, root, fscktest.KeyIs(0, format.RootBackrefKey)))
		}},
		{"ROOT_REF name", fsck.KindRootRef, 68, mustFail, "errors found in root refs", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, fscktest.FindItem(t, img, root, fscktest.KeyIs(0, format.RootRefKey)), func(l format.Leaf, s int) {
				l.ItemData(s)[18] ^= 0x20 // first byte of the name
			})
		}},
	})
}
