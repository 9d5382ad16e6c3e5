package checker

import (
	"errors"
	"sort"
	"sync"
	"testing"

	"cowfs/disk/format"
)

// Test filesystem geometry: 16 KiB nodes, 4 KiB sectors, xxhash, generation 10.
const (
	tNode   = 16384
	tSector = 4096
	tGen    = 10
)

var (
	tFsid      = format.UUID{0xf5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	tChunkUUID = format.UUID{0xc7, 0xee}
	tDevUUID   = format.UUID{0xde, 0x7}
)

func testCtx() Context {
	return Context{Fsid: tFsid, NodeSize: tNode, SectorSize: tSector, CsumType: format.CsumXXHash,
		SuperGeneration: tGen, Incompat: format.IncompatDefault}
}

// kv is one leaf item: key and payload.
type kv struct {
	key  format.Key
	data []byte
}

func k(obj uint64, typ uint8, off uint64) format.Key {
	return format.Key{ObjectID: obj, Type: typ, Offset: off}
}

// buildLeaf assembles a WRITTEN leaf at bytenr owned by owner, items sorted
// by key and packed from the end, checksummed.
func buildLeaf(bytenr, owner uint64, items ...kv) []byte {
	items = append([]kv(nil), items...)
	sort.SliceStable(items, func(i, j int) bool { return items[i].key.Less(items[j].key) })
	b := make([]byte, tNode)
	h := format.InitHeader(b, tFsid, tChunkUUID, bytenr, tGen, owner, 0)
	h.SetWritten(true)
	h.SetNrItems(uint32(len(items)))
	l := format.Leaf(b)
	off := format.LeafDataSize(tNode)
	for i, it := range items {
		off -= uint32(len(it.data))
		l.SetItem(i, it.key, off, uint32(len(it.data)))
		copy(b[format.HeaderSize+off:], it.data)
	}
	resum(b)
	return b
}

// buildNode assembles a node of the given level from key pointers.
func buildNode(bytenr, owner uint64, level uint8, ptrs ...format.KeyPtr) []byte {
	b := make([]byte, tNode)
	h := format.InitHeader(b, tFsid, tChunkUUID, bytenr, tGen, owner, level)
	h.SetWritten(true)
	h.SetNrItems(uint32(len(ptrs)))
	for i, p := range ptrs {
		format.Node(b).SetPtr(i, p)
	}
	resum(b)
	return b
}

func resum(b []byte) { format.CsumXXHash.SetBlockCsum(b) }

// slotOf finds the slot holding key in leaf b.
func slotOf(t *testing.T, b []byte, key format.Key) int {
	t.Helper()
	l := format.Leaf(b)
	for i := range l.NrItems() {
		if l.ItemKey(i) == key {
			return i
		}
	}
	t.Fatalf("key %v not in leaf", key)
	return -1
}

// --- payload builders ---

func inodeItem(mode, nlink uint32) []byte {
	v := format.InodeItem{Generation: 5, Transid: 7, Size: 0, Nbytes: 0, Nlink: nlink, Mode: mode}
	return v.Encode()
}

func inodeRef(index uint64, name string) []byte {
	return format.InodeRefItem{{Index: index, Name: []byte(name)}}.Encode()
}

func inodeExtref(parent, index uint64, name string) []byte {
	return format.InodeExtrefItem{{Parent: parent, Index: index, Name: []byte(name)}}.Encode()
}

func dirEntry(loc format.Key, typ uint8, name, data string) []byte {
	return format.DirItem{{Location: loc, Transid: 7, Type: typ, Name: []byte(name), Data: []byte(data)}}.Encode()
}

func regExtent(diskBytenr, diskNum, offset, num uint64) []byte {
	v := format.FileExtent{Generation: 7, RAMBytes: diskNum, Type: format.FileExtentReg,
		DiskBytenr: diskBytenr, DiskNumBytes: diskNum, Offset: offset, NumBytes: num}
	return v.Encode()
}

func inlineExtent(data string) []byte {
	v := format.FileExtent{Generation: 7, RAMBytes: uint64(len(data)), Type: format.FileExtentInline, Inline: []byte(data)}
	return v.Encode()
}

func rootItem(bytenr uint64, level uint8, dirid uint64) []byte {
	v := format.RootItem{Generation: 9, GenerationV2: 9, RootDirID: dirid, Bytenr: bytenr, Refs: 1, Level: level}
	v.Inode = format.InodeItem{Generation: 1, Size: 3, Nbytes: tNode, Nlink: 1, Mode: 0o40755}
	return v.Encode()
}

func extentItem(refs, flags uint64, info *format.Key, refsInline ...format.InlineRef) []byte {
	v := format.ExtentItem{Refs: refs, Generation: 7, Flags: flags, Inline: refsInline}
	if info != nil {
		v.HasTreeBlockInfo, v.TreeBlockKey = true, *info
	}
	return v.Encode()
}

func tbr(root uint64) format.InlineRef {
	return format.InlineRef{Type: format.TreeBlockRefKey, Offset: root}
}
func sbr(parent uint64) format.InlineRef {
	return format.InlineRef{Type: format.SharedBlockRefKey, Offset: parent}
}
func edr(root, ino, off uint64, count uint32) format.InlineRef {
	return format.InlineRef{Type: format.ExtentDataRefKey, Data: format.ExtentDataRef{Root: root, ObjectID: ino, Offset: off, Count: count}}
}
func sdr(parent uint64, count uint32) format.InlineRef {
	return format.InlineRef{Type: format.SharedDataRefKey, Offset: parent, Count: count}
}

func blockGroup(used, flags uint64) []byte {
	return (&format.BlockGroupItem{Used: used, ChunkObjectID: 256, Flags: flags}).Encode()
}

func devItem(devid, total, used uint64) []byte {
	v := format.DevItem{DevID: devid, TotalBytes: total, BytesUsed: used, IOAlign: tSector, IOWidth: tSector,
		SectorSize: tSector, UUID: tDevUUID, Fsid: tFsid}
	return v.Encode()
}

func devExtent(chunkOffset, length uint64) []byte {
	v := format.DevExtent{ChunkTree: 3, ChunkObjectID: 256, ChunkOffset: chunkOffset, Length: length, ChunkTreeUUID: tChunkUUID}
	return v.Encode()
}

func chunkItem(length, typ uint64, physical ...uint64) *format.ChunkItem {
	c := &format.ChunkItem{Length: length, Owner: 2, StripeLen: format.StripeLen, Type: typ,
		IOAlign: format.StripeLen, IOWidth: format.StripeLen, SectorSize: tSector,
		NumStripes: uint16(len(physical)), SubStripes: 1}
	for _, p := range physical {
		c.Stripes = append(c.Stripes, format.Stripe{DevID: 1, Offset: p, DevUUID: tDevUUID})
	}
	return c
}

// --- valid fixture blocks, one per tree kind ---

const (
	dirMode  = 0o40755
	fileMode = 0o100644
)

// fsLeaf is a subvolume leaf: root dir 256 with a file "a" (257, two
// regular extents, an extref) and a file "b" (258, inline), and an xattr.
func fsLeaf() []byte {
	ino := func(n uint64) format.Key { return k(n, format.InodeItemKey, 0) }
	return buildLeaf(30408704, 5,
		kv{ino(256), inodeItem(dirMode, 1)},
		kv{k(256, format.InodeRefKey, 256), inodeRef(0, "..")},
		kv{k(256, format.XattrItemKey, format.NameHash([]byte("user.x"))), dirEntry(format.Key{}, format.FtXattr, "user.x", "val")},
		kv{k(256, format.DirItemKey, format.NameHash([]byte("a"))), dirEntry(ino(257), format.FtRegFile, "a", "")},
		kv{k(256, format.DirItemKey, format.NameHash([]byte("b"))), dirEntry(ino(258), format.FtRegFile, "b", "")},
		kv{k(256, format.DirIndexKey, 2), dirEntry(ino(257), format.FtRegFile, "a", "")},
		kv{k(256, format.DirIndexKey, 3), dirEntry(ino(258), format.FtRegFile, "b", "")},
		kv{ino(257), inodeItem(fileMode, 1)},
		kv{k(257, format.InodeRefKey, 256), inodeRef(2, "a")},
		kv{k(257, format.InodeExtrefKey, format.ExtrefHash(256, []byte("a2"))), inodeExtref(256, 4, "a2")},
		kv{k(257, format.ExtentDataKey, 0), regExtent(13631488, 8192, 0, 8192)},
		kv{k(257, format.ExtentDataKey, 8192), regExtent(13639680, 4096, 0, 4096)},
		kv{ino(258), inodeItem(fileMode, 1)},
		kv{k(258, format.InodeRefKey, 256), inodeRef(3, "b")},
		kv{k(258, format.ExtentDataKey, 0), inlineExtent("hello, inline world")},
	)
}

// rootLeaf is a root-tree leaf: ROOT_ITEMs and the ROOT_TREE_DIR entries.
func rootLeaf() []byte {
	ri := func(id uint64) kv { return kv{k(id, format.RootItemKey, 0), rootItem(5242880+id*tNode, 0, 0)} }
	return buildLeaf(5242880, 1,
		ri(2), ri(4),
		kv{k(5, format.RootItemKey, 0), rootItem(5275648, 0, 256)},
		kv{k(6, format.InodeItemKey, 0), inodeItem(dirMode, 1)},
		kv{k(6, format.InodeRefKey, 6), inodeRef(0, "..")},
		kv{k(6, format.DirItemKey, format.NameHash([]byte("default"))),
			dirEntry(k(5, format.RootItemKey, ^uint64(0)), format.FtDir, "default", "")},
		ri(7),
		kv{k(format.TreeRelocObjectID, format.RootItemKey, 5), rootItem(5455872, 0, 256)},
		kv{k(format.DataRelocTreeObjectID, format.RootItemKey, 0), rootItem(5390336, 0, 256)},
	)
}

// extentLeaf is an extent-tree leaf with every extent item and ref shape.
func extentLeaf() []byte {
	info := k(2, format.RootItemKey, 0)
	return buildLeaf(5259264, 2,
		kv{k(1048576, format.BlockGroupItemKey, 4194304), blockGroup(16384, format.BlockGroupSystem)},
		kv{k(5242880, format.MetadataItemKey, 0), extentItem(1, format.ExtentFlagTreeBlock, nil, tbr(1))},
		kv{k(5259264, format.ExtentItemKey, tNode), extentItem(2, format.ExtentFlagTreeBlock, &info, tbr(2), sbr(5242880))},
		kv{k(5275648, format.MetadataItemKey, 1), extentItem(2, format.ExtentFlagTreeBlock, nil)},
		kv{k(5275648, format.TreeBlockRefKey, 7), nil},
		kv{k(5275648, format.SharedBlockRefKey, 5242880), nil},
		kv{k(13631488, format.ExtentItemKey, 8192), extentItem(4, format.ExtentFlagData, nil, edr(5, 257, 0, 1), sdr(5242880, 1))},
		kv{k(13631488, format.ExtentDataRefKey, format.ExtentDataRefHash(5, 258, 0)), format.ExtentDataRef{Root: 5, ObjectID: 258, Count: 1}.Encode()},
		kv{k(13631488, format.SharedDataRefKey, 5259264), (&format.SharedDataRef{Count: 1}).Encode()},
		kv{k(20971520, format.ExtentItemKey, 4096), extentItem(1, format.ExtentFlagData, nil, edr(5, 259, 0, 1))},
		kv{k(20975616, format.ExtentItemKey, 4096), extentItem(1, format.ExtentFlagData, nil, edr(5, 260, 0, 1))},
	)
}

// chunkLeaf is a chunk-tree leaf: the device and three SINGLE chunks.
func chunkLeaf() []byte {
	ch := func(logical, length, typ uint64) kv {
		return kv{k(256, format.ChunkItemKey, logical), chunkItem(length, typ, logical).Encode()}
	}
	return buildLeaf(1064960, 3,
		kv{k(1, format.DevItemKey, 1), devItem(1, 256<<20, 20<<20)},
		ch(1048576, 4194304, format.BlockGroupSystem),
		ch(5242880, 8388608, format.BlockGroupMetadata),
		ch(13631488, 8388608, format.BlockGroupData),
	)
}

// devLeaf is a dev-tree leaf: one dev extent per chunk.
func devLeaf() []byte {
	return buildLeaf(5341184, 4,
		kv{k(1, format.DevExtentKey, 1048576), devExtent(1048576, 4194304)},
		kv{k(1, format.DevExtentKey, 5242880), devExtent(5242880, 8388608)},
		kv{k(1, format.DevExtentKey, 13631488), devExtent(13631488, 8388608)},
	)
}

// csumLeaf is a csum-tree leaf: two csums, then one.
func csumLeaf() []byte {
	return buildLeaf(5373952, 7,
		kv{k(format.ExtentCsumObjectID, format.ExtentCsumKey, 13631488), make([]byte, 16)},
		kv{k(format.ExtentCsumObjectID, format.ExtentCsumKey, 13639680), make([]byte, 8)},
	)
}

// logLeaf is a log-tree leaf (owner TREE_LOG): no previous-inode rule, so
// items of different inodes may follow each other.
func logLeaf() []byte {
	return buildLeaf(5324800, format.TreeLogObjectID,
		kv{k(257, format.InodeRefKey, 256), inodeRef(2, "a")},
		kv{k(257, format.ExtentDataKey, 0), regExtent(13631488, 4096, 0, 4096)},
		kv{k(258, format.DirIndexKey, 2), dirEntry(k(259, format.InodeItemKey, 0), format.FtRegFile, "c", "")},
		kv{k(259, format.ExtentDataKey, 0), regExtent(13635584, 4096, 0, 4096)},
		kv{k(260, format.InodeRefKey, 258), inodeRef(2, "c")},
	)
}

// fsNode is a level-1 node of tree 5 with three children.
func fsNode() []byte {
	return buildNode(30425088, 5, 1,
		format.KeyPtr{Key: k(256, format.InodeItemKey, 0), BlockPtr: 30408704, Generation: 9},
		format.KeyPtr{Key: k(300, format.InodeItemKey, 0), BlockPtr: 30441472, Generation: 8},
		format.KeyPtr{Key: k(400, format.InodeItemKey, 0), BlockPtr: 30457856, Generation: 9},
	)
}

// fixtures are the valid blocks the corruption tests start from.
var fixtures = map[string]func() []byte{
	"fs": fsLeaf, "root": rootLeaf, "extent": extentLeaf, "chunk": chunkLeaf,
	"dev": devLeaf, "csum": csumLeaf, "log": logLeaf, "node": fsNode,
}

// expectFor is the read expectation matching a fixture as built.
func expectFor(b []byte) Expect {
	return Expect{Bytenr: format.Header(b).Bytenr(), Level: int(format.Header(b).Level()), Generation: tGen,
		Owner: format.Header(b).Owner()}
}

// assertOnlyRule checks that errs is non-empty, that every error has rule,
// and that each matches format.ErrCorrupt.
func assertOnlyRule(t *testing.T, rule int, first error, all []*Error) {
	t.Helper()
	var e *Error
	if !errors.As(first, &e) {
		t.Fatalf("want rule %d, got no *Error (%v)", rule, first)
	}
	if e.Rule != rule {
		t.Fatalf("want rule %d, got rule %d: %v", rule, e.Rule, e)
	}
	if !errors.Is(first, format.ErrCorrupt) {
		t.Fatalf("error does not match format.ErrCorrupt: %v", first)
	}
	if len(all) == 0 {
		t.Fatalf("collect-all found nothing, first-error found %v", first)
	}
	for _, a := range all {
		if a.Rule != rule {
			t.Fatalf("want only rule %d, collect-all also found rule %d: %v", rule, a.Rule, a)
		}
	}
	t.Logf("rule %d: %v", rule, first)
	recordRule(t, rule)
}

// firedRules records, for each rule, the tests in which a failing case made
// exactly that rule fire (assertOnlyRule, or recordRule called directly
// after an equivalent assertion). TestEveryRuleHasFailingCase reads it.
var firedRules = struct {
	sync.Mutex
	by map[int][]string
}{by: map[int][]string{}}

// recordRule notes that test t asserted a failing case of rule alone.
func recordRule(t *testing.T, rule int) {
	firedRules.Lock()
	defer firedRules.Unlock()
	firedRules.by[rule] = append(firedRules.by[rule], t.Name())
}
