package checker

import (
	"testing"

	"cowfs/disk/format"
)

// Small log-tree leaves (no previous-inode rule) that break that rule once
// their owner becomes a subvolume; and a one-inode leaf.
func init() {
	tree := format.TreeLogObjectID
	ref := kv{k(257, format.InodeRefKey, 256), inodeRef(2, "a")}
	fixtures["pair-extent"] = func() []byte {
		return buildLeaf(5324800, tree, ref, kv{k(258, format.ExtentDataKey, 0), regExtent(13631488, 4096, 0, 4096)})
	}
	fixtures["pair-dir"] = func() []byte {
		return buildLeaf(5324800, tree, ref, kv{k(258, format.DirIndexKey, 2), dirEntry(k(259, 1, 0), format.FtRegFile, "c", "")})
	}
	fixtures["pair-ref"] = func() []byte {
		return buildLeaf(5324800, tree, ref, kv{k(258, format.InodeRefKey, 256), inodeRef(3, "b")})
	}
	fixtures["pair-extref"] = func() []byte {
		return buildLeaf(5324800, tree, ref, kv{k(258, format.InodeExtrefKey, 77), inodeExtref(256, 3, "b")})
	}
	fixtures["inode1"] = func() []byte {
		return buildLeaf(5324800, 5, kv{k(256, format.InodeItemKey, 0), inodeItem(dirMode, 1)})
	}
}

// mutData corrupts the payload of the item with key.
func mutData(key format.Key, f func(d []byte)) func(*testing.T, []byte, *Expect, *Context) {
	return func(t *testing.T, b []byte, _ *Expect, _ *Context) {
		f(format.Leaf(b).ItemData(slotOf(t, b, key)))
	}
}

// mutKey rewrites the key of the item with key.
func mutKey(key, to format.Key) func(*testing.T, []byte, *Expect, *Context) {
	return func(t *testing.T, b []byte, _ *Expect, _ *Context) {
		format.Leaf(b).SetItemKey(slotOf(t, b, key), to)
	}
}

// toSubvol makes a log leaf a subvolume leaf.
func toSubvol(_ *testing.T, b []byte, exp *Expect, _ *Context) {
	hdr(b).SetOwner(5)
	exp.Owner = 5
}

func put64(off int, v uint64) func([]byte) { return func(d []byte) { le.PutUint64(d[off:], v) } }
func put32(off int, v uint32) func([]byte) { return func(d []byte) { le.PutUint32(d[off:], v) } }
func put16(off int, v uint16) func([]byte) { return func(d []byte) { le.PutUint16(d[off:], v) } }
func put8(off int, v uint8) func([]byte)   { return func(d []byte) { d[off] = v } }
func or64(off int, v uint64) func([]byte) {
	return func(d []byte) { le.PutUint64(d[off:], le.Uint64(d[off:])|v) }
}

var (
	fe0    = k(257, format.ExtentDataKey, 0)
	fe1    = k(257, format.ExtentDataKey, 8192)
	feIn   = k(258, format.ExtentDataKey, 0)
	dirA   = k(256, format.DirItemKey, format.NameHash([]byte("a")))
	idxA   = k(256, format.DirIndexKey, 2)
	xattr  = k(256, format.XattrItemKey, format.NameHash([]byte("user.x")))
	ino256 = k(256, format.InodeItemKey, 0)
	ino257 = k(257, format.InodeItemKey, 0)
	ref257 = k(257, format.InodeRefKey, 256)
	xref   = k(257, format.InodeExtrefKey, format.ExtrefHash(256, []byte("a2")))
)

func TestFileExtentRule(t *testing.T) {
	const r = RuleFileExtent
	runCases(t, []blockCase{
		{"type", "fs", mutData(fe0, put8(20, 3)), false, r},
		{"compression", "fs", mutData(fe0, put8(16, 4)), false, r},
		{"encryption", "fs", mutData(fe1, put8(17, 1)), false, r},
		{"inline ram_bytes", "fs", mutData(feIn, put64(8, 20)), false, r},
		{"inline file offset", "fs", mutKey(feIn, k(258, format.ExtentDataKey, 4096)), false, r},
		{"unaligned key offset", "fs", mutKey(fe1, k(257, format.ExtentDataKey, 8193)), false, r},
		{"unaligned disk_bytenr", "fs", mutData(fe0, put64(21, 13631488+1)), false, r},
		{"unaligned ram_bytes", "fs", mutData(fe1, put64(8, 4095)), false, r},
		{"unaligned num_bytes", "fs", mutData(fe1, put64(45, 100)), false, r},
		{"offset+num_bytes overflow", "fs", mutData(fe1, put64(37, ^uint64(0)-4095)), false, r},
		{"overlap", "fs", mutData(fe0, put64(45, 12288)), false, r},
		{"previous item of another inode", "pair-extent", toSubvol, false, r},
	})
}

func TestCsumItemRule(t *testing.T) {
	const r = RuleCsumItem
	c0 := k(format.ExtentCsumObjectID, format.ExtentCsumKey, 13631488)
	c1 := k(format.ExtentCsumObjectID, format.ExtentCsumKey, 13639680)
	runCases(t, []blockCase{
		{"objectid", "csum", mutKey(c0, k(format.FreeSpaceObjectID, format.ExtentCsumKey, 13631488)), false, r},
		{"unaligned offset", "csum", mutKey(c1, k(c1.ObjectID, c1.Type, c1.Offset+1)), false, r},
		{"overlap", "csum", mutKey(c1, k(c1.ObjectID, c1.Type, c1.Offset-4096)), false, r},
	})
	b := buildLeaf(5373952, 7, kv{c0, make([]byte, 12)}) // 12 is no multiple of 8
	assertOnlyRule(t, r, CheckBlock(b, testCtx(), expectFor(b)), CheckBlockAll(b, testCtx(), expectFor(b)))
}

func TestDirItemRule(t *testing.T) {
	const r = RuleDirItem
	runCases(t, []blockCase{
		{"name hash", "fs", mutData(dirA, put8(30, 'c')), false, r},
		{"type 0", "fs", mutData(idxA, put8(29, 0)), false, r},
		{"type 9", "fs", mutData(dirA, put8(29, 9)), false, r},
		{"xattr type on dir item", "fs", mutData(idxA, put8(29, format.FtXattr)), false, r},
		{"dir type on xattr", "fs", mutData(xattr, put8(29, format.FtRegFile)), false, r},
		{"location type", "fs", mutData(idxA, put8(8, 50)), false, r},
		{"location objectid", "fs", mutData(dirA, put64(0, 3)), false, r},
		{"location offset", "fs", mutData(idxA, put64(9, 1)), false, r},
		{"location root id not a subvolume", "root", mutData(k(6, format.DirItemKey, format.NameHash([]byte("default"))), put64(0, 2)), false, r},
		{"xattr location not zero", "fs", mutData(xattr, put64(0, 257)), false, r},
		{"name_len over 255", "fs", mutData(dirA, put16(27, 300)), false, r},
		{"name crosses item", "fs", mutData(idxA, put16(27, 2)), false, r},
		{"data_len on a dir entry", "fs", mutData(idxA, put16(25, 1)), false, r},
		{"previous item of another inode", "pair-dir", toSubvol, false, r},
	})
}

func TestInodeRefRule(t *testing.T) {
	const r = RuleInodeRef
	runCases(t, []blockCase{
		{"ref name overflow", "fs", mutData(ref257, put16(8, 2)), false, r},
		{"extref name overflow", "fs", mutData(xref, put16(16, 200)), false, r},
		{"ref previous item", "pair-ref", toSubvol, false, r},
		{"extref previous item", "pair-extref", toSubvol, false, r},
	})
	for _, data := range [][]byte{make([]byte, 10), make([]byte, 3)} {
		b := buildLeaf(5324800, 5, kv{ino257, inodeItem(fileMode, 1)}, kv{ref257, data})
		assertOnlyRule(t, r, CheckBlock(b, testCtx(), expectFor(b)), CheckBlockAll(b, testCtx(), expectFor(b)))
	}
}

func TestInodeItemRule(t *testing.T) {
	const r = RuleInodeItem
	runCases(t, []blockCase{
		{"mode type", "fs", mutData(ino257, put32(52, 0o170644)), false, r},
		{"mode type zero", "fs", mutData(ino257, put32(52, 0o644)), false, r},
		{"mode extra bits", "fs", mutData(ino257, put32(52, fileMode|1<<20)), false, r},
		{"dir nlink", "fs", mutData(ino256, put32(40, 2)), false, r},
		{"generation", "fs", mutData(ino257, put64(0, tGen+2)), false, r},
		{"transid", "fs", mutData(ino256, put64(8, tGen+2)), false, r},
		{"unknown flag", "fs", mutData(ino257, or64(64, 1<<20)), false, r},
		{"unknown ro flag", "fs", mutData(ino257, or64(64, 1<<33)), false, r},
		{"key offset", "fs", mutKey(ino256, k(256, format.InodeItemKey, 1)), false, r},
		{"key objectid", "inode1", mutKey(ino256, k(255, format.InodeItemKey, 0)), false, r},
	})
	// A read-only mount accepts unknown ro-compat flags.
	b := fsLeaf()
	or64(64, 1<<33)(format.Leaf(b).ItemData(slotOf(t, b, ino257)))
	resum(b)
	ctx := testCtx()
	ctx.ReadOnly = true
	if err := CheckBlock(b, ctx, expectFor(b)); err != nil {
		t.Fatal(err)
	}
	// Generation bounds are skipped when the super generation is unknown.
	b = fsLeaf()
	put64(0, 1000)(format.Leaf(b).ItemData(slotOf(t, b, ino257)))
	resum(b)
	ctx = testCtx()
	ctx.SuperGeneration = 0
	if err := CheckBlock(b, ctx, expectFor(b)); err != nil {
		t.Fatal(err)
	}
}

func TestRootItemRule(t *testing.T) {
	const r = RuleRootItem
	r4 := k(4, format.RootItemKey, 0)
	reloc := k(format.TreeRelocObjectID, format.RootItemKey, 5)
	runCases(t, []blockCase{
		{"generation", "root", mutData(r4, put64(160, tGen+2)), false, r},
		{"generation_v2", "root", mutData(r4, put64(239, tGen+2)), false, r},
		{"last_snapshot", "root", mutData(r4, put64(200, tGen+2)), false, r},
		{"bytenr", "root", mutData(r4, put64(176, 5242880+100)), false, r},
		{"level", "root", mutData(r4, put8(238, 8)), false, r},
		{"drop_level", "root", mutData(r4, put8(237, 8)), false, r},
		{"flags", "root", mutData(r4, or64(208, 4)), false, r},
		{"root id 0", "root", mutKey(k(2, format.RootItemKey, 0), k(0, format.RootItemKey, 0)), false, r},
		{"reloc tree of no subvolume", "root", mutKey(reloc, k(reloc.ObjectID, reloc.Type, 3)), false, r},
	})
	b := buildLeaf(5242880, 1, kv{r4, rootItem(5242880, 0, 0)[:format.RootItemLegacySize]})
	if err := CheckBlock(b, testCtx(), expectFor(b)); err != nil {
		t.Fatalf("legacy root item: %v", err)
	}
	b = buildLeaf(5242880, 1, kv{r4, make([]byte, 300)})
	assertOnlyRule(t, r, CheckBlock(b, testCtx(), expectFor(b)), CheckBlockAll(b, testCtx(), expectFor(b)))
}

func TestExtentItemRule(t *testing.T) {
	const r = RuleExtentItem
	meta := k(5242880, format.MetadataItemKey, 0)
	tree := k(5259264, format.ExtentItemKey, tNode)
	meta2 := k(5275648, format.MetadataItemKey, 1)
	data := k(13631488, format.ExtentItemKey, 8192)
	d1 := k(20971520, format.ExtentItemKey, 4096)
	d2 := k(20975616, format.ExtentItemKey, 4096)
	noSkinny := func(_ *testing.T, _ []byte, _ *Expect, ctx *Context) {
		ctx.Incompat &^= format.IncompatSkinnyMetadata
	}
	runCases(t, []blockCase{
		{"metadata item without skinny", "extent", noSkinny, false, r},
		{"generation", "extent", mutData(meta, put64(8, tGen+2)), false, r},
		{"data and tree flags", "extent", mutData(meta, put64(16, 3)), false, r},
		{"no type flag", "extent", mutData(d1, put64(16, 0)), false, r},
		{"tree block length", "extent", mutKey(tree, k(tree.ObjectID, tree.Type, 8192)), false, r},
		{"data as metadata item", "extent", mutKey(d1, k(d1.ObjectID, format.MetadataItemKey, 4096)), false, r},
		{"data length", "extent", mutKey(d1, k(d1.ObjectID, d1.Type, 4097)), false, r},
		{"data full backref", "extent", mutData(data, or64(16, format.ExtentFlagFullBackref)), false, r},
		{"unaligned bytenr", "extent", mutKey(d2, k(d2.ObjectID+1, d2.Type, d2.Offset)), false, r},
		{"metadata level", "extent", mutKey(meta2, k(meta2.ObjectID, meta2.Type, 8)), false, r},
		{"tree block info level", "extent", mutData(tree, put8(41, 8)), false, r},
		{"unknown inline ref", "extent", mutData(meta, put8(24, 177)), false, r},
		{"inline ref truncated", "extent", mutData(meta, put8(24, format.ExtentDataRefKey)), false, r},
		{"inline refs above refs", "extent", mutData(data, put64(0, 1)), false, r},
		{"inline ref order", "extent", mutData(tree, put8(42+9, format.TreeBlockRefKey)), false, r},
		{"inline ref type order", "extent", mutData(tree, put8(42+9, format.ExtentOwnerRefKey)), false, r},
		{"shared parent unaligned", "extent", mutData(tree, put64(42+10, 5242881)), false, r},
		{"data ref root", "extent", mutData(data, put64(25, 2)), false, r},
		{"data ref objectid", "extent", mutData(data, put64(33, 100)), false, r},
		{"data ref offset", "extent", mutData(data, put64(41, 1)), false, r},
		{"shared data parent", "extent", mutData(data, put64(24+29+1, 100)), false, r},
		{"overlap", "extent", mutKey(d1, k(d1.ObjectID, d1.Type, 8192)), false, r},
	})
}

func TestKeyedRefRule(t *testing.T) {
	const r = RuleKeyedRef
	sbrKey := k(5275648, format.SharedBlockRefKey, 5242880)
	sdrKey := k(13631488, format.SharedDataRefKey, 5259264)
	edrKey := k(13631488, format.ExtentDataRefKey, format.ExtentDataRefHash(5, 258, 0))
	runCases(t, []blockCase{
		{"shared block parent", "extent", mutKey(sbrKey, k(sbrKey.ObjectID, sbrKey.Type, sbrKey.Offset+1)), false, r},
		{"shared data parent", "extent", mutKey(sdrKey, k(sdrKey.ObjectID, sdrKey.Type, sdrKey.Offset+8)), false, r},
		{"data ref offset", "extent", mutData(edrKey, put64(16, 512)), false, r},
		{"data ref root", "extent", mutData(edrKey, put64(0, 3)), false, r},
		{"data ref objectid", "extent", mutData(edrKey, put64(8, 7)), false, r},
	})
	for _, it := range []kv{
		{k(5275648, format.TreeBlockRefKey, 7), []byte{1}},
		{k(5275648, format.SharedDataRefKey, 5242880), make([]byte, 8)},
		{k(5275648+1, format.TreeBlockRefKey, 7), nil},
		{edrKey, make([]byte, 27)},
	} {
		b := buildLeaf(5259264, 2, it)
		assertOnlyRule(t, r, CheckBlock(b, testCtx(), expectFor(b)), CheckBlockAll(b, testCtx(), expectFor(b)))
	}
}

func TestBlockGroupRule(t *testing.T) {
	const r = RuleBlockGroup
	bg := k(1048576, format.BlockGroupItemKey, 4194304)
	runCases(t, []blockCase{
		{"used above length", "extent", mutData(bg, put64(0, 4194305)), false, r},
		{"chunk objectid", "extent", mutData(bg, put64(8, 257)), false, r},
		{"two profiles", "extent", mutData(bg, or64(16, format.BlockGroupDup|format.BlockGroupRaid1)), false, r},
		{"system and data", "extent", mutData(bg, or64(16, format.BlockGroupData)), false, r},
		{"no type", "extent", mutData(bg, put64(16, 0)), false, r},
		{"length 0", "extent", mutKey(bg, k(bg.ObjectID, bg.Type, 0)), false, r},
	})
}

func TestDevItemRule(t *testing.T) {
	const r = RuleDevItem
	dev := k(1, format.DevItemKey, 1)
	runCases(t, []blockCase{
		{"devid", "chunk", mutData(dev, put64(0, 2)), false, r},
		{"bytes_used", "chunk", mutData(dev, put64(16, 257<<20)), false, r},
		{"objectid", "chunk", mutKey(dev, k(2, format.DevItemKey, 1)), false, r},
	})
}

func TestDevExtentRule(t *testing.T) {
	const r = RuleDevExtent
	d0 := k(1, format.DevExtentKey, 1048576)
	d2 := k(1, format.DevExtentKey, 13631488)
	runCases(t, []blockCase{
		{"chunk tree", "dev", mutData(d0, put64(0, 2)), false, r},
		{"chunk objectid", "dev", mutData(d0, put64(8, 257)), false, r},
		{"chunk offset", "dev", mutData(d2, put64(16, 13631488+7)), false, r},
		{"length", "dev", mutData(d2, put64(24, 8388608+7)), false, r},
		{"key offset", "dev", mutKey(d2, k(1, format.DevExtentKey, 13631488+512)), false, r},
		{"overlap", "dev", mutData(d0, put64(24, 8388608)), false, r},
	})
}

func TestChunkItemRule(t *testing.T) {
	const r = RuleChunk
	sys := k(256, format.ChunkItemKey, 1048576)
	data := k(256, format.ChunkItemKey, 13631488)
	runCases(t, []blockCase{
		{"stripe_len", "chunk", mutData(sys, put64(16, 32768)), false, r},
		{"sector_size", "chunk", mutData(sys, put32(40, 8192)), false, r},
		{"length 0", "chunk", mutData(data, put64(0, 0)), false, r},
		{"length unaligned", "chunk", mutData(data, put64(0, 8388608+1)), false, r},
		{"length too large", "chunk", mutData(data, put64(0, 1<<48)), false, r},
		{"logical+length overflow", "chunk", mutData(data, put64(0, ^uint64(0)-4095)), false, r},
		{"unknown type bit", "chunk", mutData(data, or64(24, 1<<20)), false, r},
		{"two profiles", "chunk", mutData(data, or64(24, format.BlockGroupRaid0|format.BlockGroupRaid10)), false, r},
		{"no type", "chunk", mutData(data, put64(24, 0)), false, r},
		{"system with data", "chunk", mutData(sys, or64(24, format.BlockGroupData)), false, r},
		{"data and metadata without mixed", "chunk", mutData(data, or64(24, format.BlockGroupMetadata)), false, r},
		{"dup with one stripe", "chunk", mutData(data, or64(24, format.BlockGroupDup)), false, r},
		{"num_stripes vs size", "chunk", mutData(data, put16(44, 2)), false, r},
		{"num_stripes 0", "chunk", mutData(data, put16(44, 0)), false, r},
		{"logical unaligned", "chunk", mutKey(data, k(256, format.ChunkItemKey, 13631488+1)), false, r},
	})
	b := buildLeaf(1064960, 3, kv{sys, make([]byte, 40)})
	assertOnlyRule(t, r, CheckBlock(b, testCtx(), expectFor(b)), CheckBlockAll(b, testCtx(), expectFor(b)))
}

func TestCheckChunk(t *testing.T) {
	key := k(256, format.ChunkItemKey, 5242880)
	if err := CheckChunk(key, chunkItem(8388608, format.BlockGroupMetadata|format.BlockGroupDup, 5242880, 13631488), testCtx()); err != nil {
		t.Fatalf("valid DUP chunk: %v", err)
	}
	ctx := testCtx()
	ctx.Incompat |= format.IncompatMixedGroups
	if err := CheckChunk(key, chunkItem(8388608, format.BlockGroupMetadata|format.BlockGroupData, 5242880), ctx); err != nil {
		t.Fatalf("mixed chunk with MIXED_GROUPS: %v", err)
	}
	c := chunkItem(8388608, format.BlockGroupRaid1|format.BlockGroupData, 5242880)
	err := CheckChunk(key, c, testCtx())
	assertOnlyRule(t, RuleChunk, err, []*Error{err.(*Error)})
	if err.(*Error).Kind != KindChunk || err.Error() != "corrupt chunk: chunk_start=5242880, invalid chunk num_stripes < ncopies, have 1 expect at least 2" {
		t.Fatalf("message: %v", err)
	}
}
