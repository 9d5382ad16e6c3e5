package mkfs

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck"
)

var (
	nodeSizes = []uint32{4096, 8192, 16384, 32768, 65536}
	csumTypes = []format.CsumType{format.CsumCRC32C, format.CsumXXHash, format.CsumSHA256, format.CsumBlake2b}
)

func makeOn(t *testing.T, size int64, o Options) (*disk.MemDevice, *Result) {
	t.Helper()
	dev := disk.NewMemDevice(size)
	r, err := Make(dev, o)
	require.NoError(t, err)
	t.Cleanup(func() { requireFsckClean(t, dev) })
	return dev, r
}

// requireFsckClean runs our fsck over dev: every test that writes an image
// ends with it.
func requireFsckClean(t *testing.T, dev disk.Device) {
	rep, err := fsck.Check(dev, fsck.Options{})
	require.NoError(t, err)
	require.True(t, rep.Clean(), "fsck: %v", rep.Problems)
}

// TestLayoutInvariants checks every node size and checksum: each block
// checksummed and well formed, keys sorted, block-group used exact,
// bytes_used their sum, extent items for exactly the tree blocks.
func TestLayoutInvariants(t *testing.T) {
	for _, ns := range nodeSizes {
		for _, cs := range csumTypes {
			t.Run(fmt.Sprintf("%d-%s", ns, cs), func(t *testing.T) {
				t.Parallel()
				o := DefaultOptions()
				o.NodeSize, o.Csum, o.Label = ns, cs, "inv"
				dev, r := makeOn(t, 56<<20, o) // above MinSize(64 KiB)
				im := readImage(t, dev)
				require.Len(t, im.leaves, len(treeOrder)+1, "the free-space tree comes last")
				require.Equal(t, format.FreeSpaceTreeObjectID, r.Trees[len(r.Trees)-1].ObjectID)
				checkSuper(t, im, r)
				checkExtentTree(t, im)
				checkChunksDevExtents(t, im)
				checkRootTree(t, im, r)
				checkSubvolumes(t, im, r)
			})
		}
	}
}

func checkSuper(t *testing.T, im *image, r *Result) {
	s := im.super
	require.Equal(t, r.Fsid, s.Fsid)
	require.EqualValues(t, format.Magic, s.Magic)
	require.EqualValues(t, format.SuperFlagWritten, s.Flags)
	require.EqualValues(t, generation, s.Generation)
	require.EqualValues(t, generation, s.ChunkRootGeneration)
	require.EqualValues(t, generation, s.UUIDTreeGeneration)

	require.Equal(t, format.IncompatDefault, s.IncompatFlags)
	require.Equal(t, s.NodeSize, s.LeafSize)
	require.EqualValues(t, len(r.Trees)*int(s.NodeSize), s.BytesUsed)
	wantRo := uint64(format.CompatRoFreeSpaceTree | format.CompatRoFreeSpaceTreeValid)
	if len(r.Trees) == len(treeOrder) {
		wantRo = 0
	}
	require.Equal(t, wantRo, s.CompatRoFlags)
	if wantRo == 0 {
		require.Equal(t, ^uint64(0), s.CacheGeneration, "no v1 space cache")
	} else {
		require.Zero(t, s.CacheGeneration, "as mkfs.btrfs with a free-space tree")
	}
	require.GreaterOrEqual(t, s.BytesUsed, 6*uint64(s.NodeSize), "kernel minimum")
	require.Equal(t, r.Label, s.LabelString())
	require.EqualValues(t, format.RootTreeDirObjectID, s.RootDirObjectID)
	require.Equal(t, s.Fsid, s.DevItem.Fsid)
	br := s.SuperRoots[0]
	require.Equal(t, s.Root, br.TreeRoot)
	require.Equal(t, s.ChunkRoot, br.ChunkRoot)
	require.Equal(t, im.addrs[format.ExtentTreeObjectID], br.ExtentRoot)
	require.Equal(t, im.addrs[format.FSTreeObjectID], br.FSRoot)
	require.Equal(t, im.addrs[format.DevTreeObjectID], br.DevRoot)
	require.Equal(t, im.addrs[format.CsumTreeObjectID], br.CsumRoot)
	require.Equal(t, s.BytesUsed, br.BytesUsed)
	require.Equal(t, s.TotalBytes, br.TotalBytes)
	devItems := im.itemsOfType(format.ChunkTreeObjectID, format.DevItemKey)
	require.Len(t, devItems, 1)
	require.Equal(t, s.DevItem.Encode(), devItems[0].data, "super dev_item == chunk tree DEV_ITEM")
}

// checkExtentTree: one METADATA_ITEM per tree block with a TREE_BLOCK_REF
// to its owner, and block-group used == Σ nodesize inside the group.
func checkExtentTree(t *testing.T, im *image) {
	owner := map[uint64]uint64{}
	for id, addr := range im.addrs {
		owner[addr] = id
	}
	used := map[uint64]uint64{}
	for _, it := range im.itemsOfType(format.ExtentTreeObjectID, format.MetadataItemKey) {
		id, ok := owner[it.key.ObjectID]
		require.True(t, ok, "METADATA_ITEM %d is no tree block", it.key.ObjectID)
		delete(owner, it.key.ObjectID)
		ei, err := format.DecodeExtentItem(it.data, it.key.Type)
		require.NoError(t, err)
		require.EqualValues(t, 1, ei.Refs)
		require.Equal(t, format.ExtentFlagTreeBlock, ei.Flags)
		require.Equal(t, []format.InlineRef{{Type: format.TreeBlockRefKey, Offset: id}}, ei.Inline)
		for start, c := range im.chunks {
			if it.key.ObjectID >= start && it.key.ObjectID < start+c.Length {
				used[start] += uint64(im.super.NodeSize)
			}
		}
	}
	require.Empty(t, owner, "tree blocks without extent items")
	var total uint64
	bgs := im.itemsOfType(format.ExtentTreeObjectID, format.BlockGroupItemKey)
	require.Len(t, bgs, 3)
	for _, it := range bgs {
		bg, err := format.DecodeBlockGroupItem(it.data)
		require.NoError(t, err)
		c := im.chunks[it.key.ObjectID]
		require.NotNil(t, c, "block group %d has no chunk", it.key.ObjectID)
		require.Equal(t, c.Length, it.key.Offset)
		require.Equal(t, c.Type, bg.Flags)
		require.Equal(t, used[it.key.ObjectID], bg.Used, "block group %d used", it.key.ObjectID)
		total += bg.Used
	}
	require.Equal(t, im.super.BytesUsed, total)
}

// checkChunksDevExtents: chunks identity-mapped, 64 KiB aligned, one dev
// extent each; DEV_ITEM bytes_used is their sum; tree blocks placed right.
func checkChunksDevExtents(t *testing.T, im *image) {
	des := im.itemsOfType(format.DevTreeObjectID, format.DevExtentKey)
	require.Len(t, des, len(im.chunks))
	var sum uint64
	for _, it := range des {
		de, err := format.DecodeDevExtent(it.data)
		require.NoError(t, err)
		c := im.chunks[de.ChunkOffset]
		require.NotNil(t, c)
		require.Equal(t, c.Stripes[0].Offset, it.key.Offset)
		require.Equal(t, de.ChunkOffset, it.key.Offset, "identity mapped")
		require.Equal(t, c.Length, de.Length)
		require.Zero(t, it.key.Offset%format.StripeLen)
		sum += de.Length
	}
	require.Equal(t, sum, im.super.DevItem.BytesUsed)
	for id, addr := range im.addrs {
		want := format.BlockGroupMetadata
		if id == format.ChunkTreeObjectID {
			want = format.BlockGroupSystem
		}
		var in *format.ChunkItem
		for start, c := range im.chunks {
			if addr >= start && addr+uint64(im.super.NodeSize) <= start+c.Length {
				in = c
				require.Equal(t, (addr-start)/format.StripeLen, (addr+uint64(im.super.NodeSize)-1-start)/format.StripeLen)
			}
		}
		require.NotNil(t, in, "tree %d block %d outside chunks", id, addr)
		require.Equal(t, want, in.Type)
	}
}

// checkRootTree: ROOT_ITEMs for exactly 2, 4, 5, 7, 9, 10 (unless left
// out), -9 and the default directory entry.
func checkRootTree(t *testing.T, im *image, r *Result) {
	var ids []uint64
	for _, it := range im.itemsOfType(format.RootTreeObjectID, format.RootItemKey) {
		ids = append(ids, it.key.ObjectID)
	}
	want := []uint64{2, 4, 5, 7, 9, format.FreeSpaceTreeObjectID, format.DataRelocTreeObjectID}
	if len(r.Trees) == len(treeOrder) {
		want = slices.Delete(want, 5, 6)
	}
	require.Equal(t, want, ids)
	dirs := im.itemsOfType(format.RootTreeObjectID, format.DirItemKey)
	require.Len(t, dirs, 1)
	require.Equal(t, format.NameHash([]byte("default")), dirs[0].key.Offset)
	di, err := format.DecodeDirItem(dirs[0].data)
	require.NoError(t, err)
	require.Equal(t, format.Key{ObjectID: 5, Type: format.RootItemKey, Offset: ^uint64(0)}, di[0].Location)
	require.Len(t, im.items(format.CsumTreeObjectID), 0)
}

// checkSubvolumes: fs and data-reloc trees hold just the root directory,
// and the UUID tree maps the fs tree's uuid to 5.
func checkSubvolumes(t *testing.T, im *image, r *Result) {
	for _, id := range []uint64{format.FSTreeObjectID, format.DataRelocTreeObjectID} {
		items := im.items(id)
		require.Len(t, items, 2)
		ino, err := format.DecodeInodeItem(items[0].data)
		require.NoError(t, err)
		require.EqualValues(t, 0o040755, ino.Mode)
		require.EqualValues(t, 1, ino.Nlink)
		refs, err := format.DecodeInodeRefs(items[1].data)
		require.NoError(t, err)
		require.Equal(t, format.InodeRefItem{{Index: 0, Name: []byte("..")}}, refs)
	}
	u := im.items(format.UUIDTreeObjectID)
	require.Len(t, u, 1)
	require.Equal(t, format.UUIDKey(r.FSTreeUUID, format.UUIDKeySubvol), u[0].key)
}

func TestRefusesExistingFilesystem(t *testing.T) {
	o := DefaultOptions()
	dev, first := makeOn(t, 64<<20, o)
	before := bytes.Clone(dev.Bytes())
	writes := dev.Stats().WriteOps
	_, err := Make(dev, o)
	require.ErrorIs(t, err, ErrExists)
	require.NotErrorIs(t, err, ErrInvalidOptions)
	require.Equal(t, writes, dev.Stats().WriteOps, "nothing written")
	require.True(t, bytes.Equal(before, dev.Bytes()))
	require.ErrorIs(t, Probe(dev), ErrExists)

	o.Force = true
	second, err := Make(dev, o)
	require.NoError(t, err)
	require.NotEqual(t, first.Fsid, second.Fsid)
	s, err := checker.ReadSuper(dev)
	require.NoError(t, err)
	require.Equal(t, second.Fsid, s.Fsid)
}

// A filesystem whose every superblock copy carries the magic but fails its
// checksum is still one: refused without Force, as mkfs.btrfs refuses it.
func TestRefusesDamagedFilesystem(t *testing.T) {
	o := DefaultOptions()
	dev, _ := makeOn(t, 64<<20, o)
	for i := range format.SuperMirrorMax {
		if off := format.MirrorOffset(i); off+format.SuperSize <= dev.Size() {
			dev.Bytes()[off+format.SuperSize-1] ^= 0xff // in the padding: only the checksum breaks
		}
	}
	_, err := checker.ReadSuper(dev)
	require.ErrorIs(t, err, disk.ErrNoSuper, "no valid copy left")
	before := bytes.Clone(dev.Bytes())
	_, err = Make(dev, o)
	require.ErrorIs(t, err, ErrExists)
	require.ErrorContains(t, err, "checksum mismatch")
	require.True(t, bytes.Equal(before, dev.Bytes()), "nothing written")
	o.Force = true
	_, err = Make(dev, o)
	require.NoError(t, err)
}

func TestInvalidOptionsWriteNothing(t *testing.T) {
	const devSize = 64 << 20
	cases := map[string]func(o *Options){
		"nodesize 3000":        func(o *Options) { o.NodeSize = 3000 },
		"nodesize 0":           func(o *Options) { o.NodeSize = 0 },
		"nodesize 2048":        func(o *Options) { o.NodeSize = 2048 },
		"nodesize 128K":        func(o *Options) { o.NodeSize = 128 << 10 },
		"sectorsize 512":       func(o *Options) { o.SectorSize = 512 },
		"sectorsize 8192":      func(o *Options) { o.SectorSize = 8192 },
		"csum 7":               func(o *Options) { o.Csum = 7 },
		"label 256 bytes":      func(o *Options) { o.Label = string(bytes.Repeat([]byte("x"), 256)) },
		"label with NUL":       func(o *Options) { o.Label = "a\x00b" },
		"size below minimum":   func(o *Options) { o.Size = MinSize(o.NodeSize) - 4096 },
		"size 64K at 64K node": func(o *Options) { o.NodeSize, o.Size = 65536, 40<<20 },
		"size above device":    func(o *Options) { o.Size = devSize + 4096 },
		"negative size":        func(o *Options) { o.Size = -1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			mutate(&o)
			dev := disk.NewMemDevice(devSize)
			_, err := Make(dev, o)
			require.ErrorIs(t, err, ErrInvalidOptions)
			require.NotContains(t, err.Error(), "\n")
			require.ErrorIs(t, o.Validate(devSize), ErrInvalidOptions)
			require.Equal(t, disk.Stats{}, dev.Stats(), "device touched")
			require.True(t, bytes.Equal(make([]byte, devSize), dev.Bytes()), "device not all zero")
		})
	}
}

func TestDefaultOptionsValid(t *testing.T) {
	o := DefaultOptions()
	require.NoError(t, o.Validate(MinSize(o.NodeSize)))
	require.ErrorIs(t, o.Validate(MinSize(o.NodeSize)-1), ErrInvalidOptions)
	require.Equal(t, `size=device nodesize=16384 sectorsize=4096 csum=xxhash64 label="" force=false free-space-tree=true`, o.String())
	o.Size = 256 << 20
	require.Contains(t, o.String(), "size=256MiB")
}

func TestLongestLabel(t *testing.T) {
	o := DefaultOptions()
	o.Label = string(bytes.Repeat([]byte("L"), MaxLabelLen))
	dev, _ := makeOn(t, 32<<20, o)
	s, err := checker.ReadSuper(dev)
	require.NoError(t, err)
	require.Equal(t, o.Label, s.LabelString())
	require.Zero(t, s.Label[MaxLabelLen], "NUL-terminated")
}

func TestMinSize(t *testing.T) {
	noTree := map[uint32]int64{4096: 21 << 20, 8192: 21 << 20, 16384: 21 << 20, 32768: 29 << 20, 65536: 45 << 20}
	tree := map[uint32]int64{4096: 22 << 20, 8192: 22 << 20, 16384: 23 << 20, 32768: 33 << 20, 65536: 53 << 20}
	for ns, size := range noTree {
		require.Equal(t, size, MinSizeNoTree(ns), "nodesize %d", ns)
		require.Equal(t, tree[ns], MinSize(ns), "nodesize %d", ns)
		o := DefaultOptions()
		o.NodeSize, o.NoFreeSpaceTree = ns, true
		dev, r := makeOn(t, size, o)
		require.EqualValues(t, size, r.TotalBytes)
		require.Equal(t, uint64(size), r.Chunks[2].End(), "chunks fill the minimum exactly")
		readImage(t, dev)
		o.NoFreeSpaceTree = false
		require.ErrorIs(t, o.Validate(size), ErrInvalidOptions, "too small with a free-space tree")
		dev, r = makeOn(t, tree[ns], o)
		require.Equal(t, uint64(size), r.Chunks[2].End(), "the same chunks, the rest unallocated")
		readImage(t, dev)
	}
}

// TestChunkSizes pins the sizing rule: a tenth each, clamped.
func TestChunkSizes(t *testing.T) {
	cases := []struct {
		size       uint64
		meta, data uint64
	}{
		{21 << 20, 8 << 20, 8 << 20},
		{256 << 20, 25 << 20, 25 << 20},
		{1 << 30, 102 << 20, 102 << 20},
		{4 << 30, 256 << 20, 409 << 20},
		{1 << 40, 256 << 20, 1 << 30},
	}
	for _, c := range cases {
		ch := chunkLayout(c.size, 16384)
		require.Equal(t, []uint64{4 << 20, c.meta, c.data}, []uint64{ch[0].Length, ch[1].Length, ch[2].Length}, "size %d", c.size)
		require.EqualValues(t, 1<<20, ch[0].Logical)
		require.Equal(t, ch[0].End(), ch[1].Logical)
		require.Equal(t, ch[1].End(), ch[2].Logical)
	}
}

// TestSmallerThanDevice: a filesystem on the first part of a larger device
// writes no superblock copy past its end, and wipes an old one there.
func TestSmallerThanDevice(t *testing.T) {
	o := DefaultOptions()
	dev, _ := makeOn(t, 80<<20, o)
	require.Len(t, validCopies(dev), 2)
	o.Size, o.Force = 32<<20, true
	r, err := Make(dev, o)
	require.NoError(t, err)
	require.Equal(t, []int64{format.SuperInfoOffset}, r.SuperCopies)
	require.Equal(t, []int64{format.SuperInfoOffset}, validCopies(dev))
	im := readImage(t, dev)
	require.EqualValues(t, 32<<20, im.super.TotalBytes)
	require.EqualValues(t, 32<<20, im.super.DevItem.TotalBytes)
}

func validCopies(dev disk.Device) []int64 {
	var out []int64
	for _, c := range disk.ReadSupers(dev) {
		if c.Err == nil {
			out = append(out, c.Offset)
		}
	}
	return out
}

// TestDeterministic: fixed uuids and time give identical bytes.
func TestDeterministic(t *testing.T) {
	o := DefaultOptions()
	o.Fsid, o.ChunkUUID, o.DevUUID, o.FSTreeUUID = format.UUID{1}, format.UUID{2}, format.UUID{3}, format.UUID{4}
	o.Now = time.Unix(1700000000, 5)
	a, _ := makeOn(t, 32<<20, o)
	b, _ := makeOn(t, 32<<20, o)
	require.True(t, bytes.Equal(a.Bytes(), b.Bytes()))
	s, err := checker.ReadSuper(a)
	require.NoError(t, err)
	require.Equal(t, format.UUID{1}, s.Fsid)
	require.Equal(t, format.UUID{3}, s.DevItem.UUID)
}

func TestRandomUUIDs(t *testing.T) {
	_, a := makeOn(t, 32<<20, DefaultOptions())
	_, b := makeOn(t, 32<<20, DefaultOptions())
	require.NotEqual(t, a.Fsid, b.Fsid)
	for _, u := range []format.UUID{a.Fsid, a.ChunkUUID, a.DevUUID, a.FSTreeUUID} {
		require.False(t, u.IsZero())
		require.EqualValues(t, 0x40, u[6]&0xf0, "version 4")
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{"4096": 4096, "16K": 16384, "16k": 16384, "16KiB": 16384,
		"256M": 256 << 20, "2G": 2 << 30, "1T": 1 << 40, "0": 0}
	for s, want := range good {
		got, err := ParseSize(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "K", "-1", "1.5G", "12X", "99999999999T"} {
		_, err := ParseSize(s)
		require.ErrorIs(t, err, ErrInvalidOptions, s)
	}
	require.Equal(t, "256MiB", FormatSize(256<<20))
	require.Equal(t, "1536MiB", FormatSize(3<<29))
	require.Equal(t, "1.50GiB", FormatSize(3<<29+1))
	require.Equal(t, "100B", FormatSize(100))
}

// recDevice records the order of writes and flushes: Z a write of zeros,
// M a tree block, S a superblock carrying the magic, F a flush.
type recDevice struct {
	*disk.MemDevice
	ops []byte
}

func (d *recDevice) WriteAt(p []byte, off int64, k disk.Kind) error {
	switch {
	case bytes.Count(p, []byte{0}) == len(p):
		d.ops = append(d.ops, 'Z')
	case k == disk.KindMeta:
		d.ops = append(d.ops, 'M')
	case k == disk.KindSuper && len(p) == format.SuperSize && bytes.Equal(p[0x40:0x48], []byte("_BHRfS_M")):
		d.ops = append(d.ops, 'S')
	default:
		d.ops = append(d.ops, '?')
	}
	return d.MemDevice.WriteAt(p, off, k)
}

func (d *recDevice) WriteDurable(p []byte, off int64, k disk.Kind) error {
	if err := d.WriteAt(p, off, k); err != nil {
		return err
	}
	return d.Flush()
}

func (d *recDevice) Flush() error {
	d.ops = append(d.ops, 'F')
	return d.MemDevice.Flush()
}

// TestWriteOrder: wipe every superblock copy and flush; tree blocks and
// flush; then the superblock (primary durably, mirror, flush), magic last.
func TestWriteOrder(t *testing.T) {
	dev := &recDevice{MemDevice: disk.NewMemDevice(80 << 20)}
	_, err := Make(dev, DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, "ZZF"+"MMMMMMMMMF"+"SFSF", string(dev.ops), "nine leaves: the free-space tree's included")
}

// TestNoFreeSpaceTree: NoFreeSpaceTree gives the eight trees and compat_ro
// 0 of mkfs.btrfs -R ^free-space-tree; fsck at cleanup checks both forms.
func TestNoFreeSpaceTree(t *testing.T) {
	o := DefaultOptions()
	o.NoFreeSpaceTree = true
	dev, r := makeOn(t, 48<<20, o)
	im := readImage(t, dev)
	require.Len(t, im.leaves, len(treeOrder))
	checkSuper(t, im, r)
	checkRootTree(t, im, r)
	require.Contains(t, o.String(), "free-space-tree=false")
}
