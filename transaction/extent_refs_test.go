package transaction

import (
	"cowfs/testmount"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"cowfs/alloc"
	"cowfs/checker"
	"cowfs/ctree"
	"cowfs/disk/format"
)

func treeRef(bytenr, root uint64, level int, delta int64) alloc.RefMod {
	return alloc.RefMod{Bytenr: bytenr, NumBytes: 16384, Root: root, Level: level, Delta: delta}
}

func dataRef(bytenr, numBytes, root, ino, off uint64, delta int64) alloc.RefMod {
	return alloc.RefMod{Bytenr: bytenr, NumBytes: numBytes, Data: true, Root: root, Objectid: ino, Offset: off, Delta: delta}
}

// le builds little-endian item bytes from u64s (and u8s given as byte).
func le(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.(type) {
		case byte:
			b = append(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case int:
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	}
	return b
}

// inlineDataRef is the 29 bytes of an inline EXTENT_DATA_REF.
func inlineDataRef(root, ino, off uint64, count uint32) []byte {
	return append([]byte{format.ExtentDataRefKey}, le(root, ino, off, count)...)
}

func TestTreeBlockAddDrop(t *testing.T) {
	img := newRefImage(t, 16384)
	b := img.meta.End() - 16384
	gen := img.tt.Transid()
	require.NoError(t, img.run(treeRef(b, 5, 1, 1)))
	require.Equal(t, []ctree.Item{{
		Key:  format.Key{ObjectID: b, Type: format.MetadataItemKey, Offset: 1},
		Data: le(1, gen, format.ExtentFlagTreeBlock, format.TreeBlockRefKey, 5),
	}}, img.items(t, b))
	require.Len(t, img.items(t, b)[0].Data, 33) // btrfs-format.md §2.5: seen on disk
	require.Equal(t, []acctEvent{{true, b, 16384, false}}, img.acct.take())
	img.commit(t)

	require.NoError(t, img.run(treeRef(b, 5, 1, -1)))
	require.Empty(t, img.items(t, b))
	require.Equal(t, []acctEvent{{false, b, 16384, false}}, img.acct.take())
	img.commit(t)
}

// An extent allocated and freed in one transaction never reaches the
// extent tree: not even a COW of it.
func TestAddDropCancel(t *testing.T) {
	img := newRefImage(t, 16384)
	before := img.all(t)
	bytenr, level, gen := img.extent.Info()
	d := alloc.NewDelayedRefs()
	b := img.meta.End() - 16384
	d.Add(treeRef(b, 5, 0, 1))
	d.Add(dataRef(img.data.Logical, 8192, 5, 257, 0, 1))
	d.Add(dataRef(img.data.Logical, 8192, 5, 257, 0, -1))
	d.Add(treeRef(b, 5, 0, -1))
	heads := d.Take()
	require.Empty(t, heads)
	require.NoError(t, img.runHeads(heads))
	require.Equal(t, before, img.all(t))
	b2, l2, g2 := img.extent.Info()
	require.Equal(t, []any{bytenr, level, gen}, []any{b2, l2, g2}, "extent tree root was COWed")
	require.Empty(t, img.acct.take())
}

// dataRefs returns n distinct data refs (root, ino, offset) of one extent.
func dataRefs(n int) []format.ExtentDataRef {
	var out []format.ExtentDataRef
	for i := range n {
		root := []uint64{5, 256, 257}[i%3]
		out = append(out, format.ExtentDataRef{Root: root, ObjectID: 257 + uint64(i/3), Offset: uint64(i%5) * 4096, Count: 1})
	}
	return out
}

// wantDataItem is the EXTENT_ITEM bytes of a data extent whose refs are all
// inline: sorted by hash descending.
func wantDataItem(gen uint64, refs []format.ExtentDataRef) []byte {
	refs = slices.Clone(refs)
	slices.SortStableFunc(refs, func(a, b format.ExtentDataRef) int { return -cmpU64(a.Hash(), b.Hash()) })
	var total uint64
	var inline []byte
	for _, r := range refs {
		total += uint64(r.Count)
		inline = append(inline, inlineDataRef(r.Root, r.ObjectID, r.Offset, r.Count)...)
	}
	return append(le(total, gen, format.ExtentFlagData), inline...)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestDataExtentInline(t *testing.T) {
	img := newRefImage(t, 16384)
	for _, n := range []int{1, 2, 9} {
		b := img.data.Logical + uint64(n)<<20
		refs := dataRefs(n)
		var mods []alloc.RefMod
		for _, r := range refs {
			mods = append(mods, dataRef(b, 65536, r.Root, r.ObjectID, r.Offset, 1))
		}
		gen := img.tt.Transid()
		require.NoError(t, img.run(mods...))
		got := img.items(t, b)
		require.Len(t, got, 1, "%d refs", n)
		require.Equal(t, format.Key{ObjectID: b, Type: format.ExtentItemKey, Offset: 65536}, got[0].Key)
		require.Equal(t, wantDataItem(gen, refs), got[0].Data, "%d refs", n)
		require.Equal(t, []acctEvent{{true, b, 65536, true}}, img.acct.take())
	}
	// One ref is the 53-byte item of btrfs-format.md §1.3.
	require.Len(t, img.items(t, img.data.Logical+1<<20)[0].Data, 53)
	img.commit(t)
}

// Past the size limit, refs become keyed EXTENT_DATA_REF items; counts
// change in place; refs at zero disappear; at total zero the extent goes.
func TestDataExtentOverflowAndDrop(t *testing.T) {
	img := newRefImage(t, 16384)
	b := img.data.Logical
	refs := dataRefs(40)
	var mods []alloc.RefMod
	for _, r := range refs {
		mods = append(mods, dataRef(b, 4096, r.Root, r.ObjectID, r.Offset, 1))
	}
	gen := img.tt.Transid()
	require.NoError(t, img.run(mods...))
	// The head's refs are applied in (root, objectid, offset) order: the
	// first 33 go inline (24 + 33*29 = 981 bytes < 992), the other 7 keyed.
	sorted := slices.Clone(refs)
	slices.SortFunc(sorted, func(a, b format.ExtentDataRef) int {
		if c := cmpU64(a.Root, b.Root); c != 0 {
			return c
		}
		if c := cmpU64(a.ObjectID, b.ObjectID); c != 0 {
			return c
		}
		return cmpU64(a.Offset, b.Offset)
	})
	inline, keyed := sorted[:33], sorted[33:]
	want := wantDataItem(gen, inline)
	binary.LittleEndian.PutUint64(want, 40)
	got := img.items(t, b)
	require.Len(t, got, 1+len(keyed))
	require.Equal(t, want, got[0].Data)
	require.Len(t, got[0].Data, 981)
	requireKeyed(t, b, keyed, got[1:])
	img.commit(t)

	// Count updates, inline and keyed, in place.
	require.NoError(t, img.run(dataRef(b, 4096, inline[0].Root, inline[0].ObjectID, inline[0].Offset, 2),
		dataRef(b, 4096, keyed[0].Root, keyed[0].ObjectID, keyed[0].Offset, 3)))
	inline[0].Count, keyed[0].Count = 3, 4
	want = wantDataItem(gen, inline)
	binary.LittleEndian.PutUint64(want, 45)
	got = img.items(t, b)
	require.Equal(t, want, got[0].Data)
	requireKeyed(t, b, keyed, got[1:])

	// Dropping refs to zero: an inline one (the item shrinks) and a keyed
	// one (its item goes).
	require.NoError(t, img.run(dataRef(b, 4096, inline[1].Root, inline[1].ObjectID, inline[1].Offset, -1),
		dataRef(b, 4096, keyed[1].Root, keyed[1].ObjectID, keyed[1].Offset, -1)))
	inline, keyed = slices.Delete(inline, 1, 2), slices.Delete(keyed, 1, 2)
	want = wantDataItem(gen, inline)
	binary.LittleEndian.PutUint64(want, 43)
	got = img.items(t, b)
	require.Equal(t, want, got[0].Data)
	requireKeyed(t, b, keyed, got[1:])

	// A new ref does not go inline while keyed refs exist, although it fits.
	require.NoError(t, img.run(dataRef(b, 4096, 5, 999, 0, 1)))
	keyed = append(keyed, format.ExtentDataRef{Root: 5, ObjectID: 999, Count: 1})
	got = img.items(t, b)
	require.Equal(t, want[8:], got[0].Data[8:])
	requireKeyed(t, b, keyed, got[1:])
	require.Empty(t, img.acct.take()[1:], "only the insert is accounted")
	img.commit(t)

	// Everything dropped: the extent item and every keyed ref go.
	mods = nil
	for _, r := range append(slices.Clone(inline), keyed...) {
		mods = append(mods, dataRef(b, 4096, r.Root, r.ObjectID, r.Offset, -int64(r.Count)))
	}
	require.NoError(t, img.run(mods...))
	require.Empty(t, img.items(t, b))
	require.Equal(t, []acctEvent{{false, b, 4096, true}}, img.acct.take())
	img.commit(t)
}

// requireKeyed checks keyed EXTENT_DATA_REF items against refs (no hash
// collisions among them).
func requireKeyed(t *testing.T, bytenr uint64, refs []format.ExtentDataRef, got []ctree.Item) {
	t.Helper()
	var want []ctree.Item
	for _, r := range refs {
		want = append(want, ctree.Item{Key: format.Key{ObjectID: bytenr, Type: format.ExtentDataRefKey, Offset: r.Hash()},
			Data: r.Encode()})
	}
	slices.SortFunc(want, func(a, b ctree.Item) int { return a.Key.Compare(b.Key) })
	require.Equal(t, want, got)
}

func requireCorrupt(t *testing.T, err error, parts ...string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, format.ErrCorrupt)
	var re *checker.Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, checker.KindExtentRef, re.Kind)
	require.Equal(t, ruleDelayedRef, re.Rule)
	for _, p := range parts {
		require.Contains(t, err.Error(), p)
	}
}

func TestDropMissingRef(t *testing.T) {
	img := newRefImage(t, 16384)
	b := img.data.Logical
	tb := img.meta.End() - 16384
	// No extent item at all.
	err := img.run(dataRef(b, 8192, 5, 257, 0, -1))
	requireCorrupt(t, err, fmt.Sprintf("run delayed refs: corrupt extent tree: bytenr=%d root=5 objectid=257 offset=0, unable to find ref", b))
	err = img.run(treeRef(tb, 7, 0, -1))
	requireCorrupt(t, err, "root=7 level=0, unable to find ref")
	t.Log(err)

	require.NoError(t, img.run(dataRef(b, 8192, 5, 257, 0, 2), treeRef(tb, 5, 0, 1)))
	// The extent exists, the ref does not.
	requireCorrupt(t, img.run(dataRef(b, 8192, 5, 258, 0, -1)), "root=5 objectid=258 offset=0, unable to find ref")
	requireCorrupt(t, img.run(treeRef(tb, 7, 0, -1)), "root=7 level=0, unable to find ref")
	// More dropped than the ref holds.
	requireCorrupt(t, img.run(dataRef(b, 8192, 5, 257, 0, -3)), "count underflow, have 2 expect >= 3")
	// The wrong extent length or level.
	requireCorrupt(t, img.run(dataRef(b, 4096, 5, 257, 0, -1)), "extent length mismatch, have 8192 expect 4096")
	requireCorrupt(t, img.run(treeRef(tb, 5, 1, -1)), "tree block level mismatch, have 0 expect 1")
	requireCorrupt(t, img.run(treeRef(b, 5, 0, -1)), "extent kind mismatch")

	// A second ref to a tree block is not supported.
	err = img.run(treeRef(tb, 7, 0, 1))
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.NotErrorIs(t, err, format.ErrCorrupt)
	require.Contains(t, err.Error(), "run delayed refs: bytenr ")
}

// Backrefs the kernel writes and cowfs never creates (shared refs, keyed
// tree refs, a non-skinny tree block item) are kept byte for byte while
// other refs of the extent change, and handled when dropped.
func TestKernelBackrefsPreserved(t *testing.T) {
	img := newRefImage(t, 16384)
	b := img.data.Logical
	parent := img.meta.Logical
	// refs 3: SHARED_DATA_REF(parent) count 2 and EXTENT_DATA_REF(5,257,0) 1.
	item := append(le(3, 4, format.ExtentFlagData), inlineDataRef(5, 257, 0, 1)...)
	item = append(item, append([]byte{format.SharedDataRefKey}, le(parent, uint32(2))...)...)
	key := format.Key{ObjectID: b, Type: format.ExtentItemKey, Offset: 8192}
	require.NoError(t, ctree.InsertItem(img.tt, img.extent, key, item))

	require.NoError(t, img.run(dataRef(b, 8192, 256, 300, 4096, 1)))
	want := append(le(4, 4, format.ExtentFlagData), wantDataItem(0, []format.ExtentDataRef{
		{Root: 5, ObjectID: 257, Count: 1}, {Root: 256, ObjectID: 300, Offset: 4096, Count: 1}})[24:]...)
	want = append(want, item[24+29:]...)
	require.Equal(t, []ctree.Item{{Key: key, Data: want}}, img.items(t, b))

	require.NoError(t, img.run(dataRef(b, 8192, 256, 300, 4096, -1), dataRef(b, 8192, 5, 257, 0, -1)))
	want = append(le(2, 4, format.ExtentFlagData), item[24+29:]...)
	require.Equal(t, []ctree.Item{{Key: key, Data: want}}, img.items(t, b))
	require.Empty(t, img.acct.take())

	// Items that do not add up: refs 1 but a keyed SHARED_DATA_REF beside
	// the inline ref; refs 1 but an inline count of 2.
	b2 := b + 1<<20
	key2 := format.Key{ObjectID: b2, Type: format.ExtentItemKey, Offset: 4096}
	require.NoError(t, ctree.InsertItem(img.tt, img.extent, key2, append(le(1, 4, format.ExtentFlagData), inlineDataRef(5, 257, 0, 1)...)))
	require.NoError(t, ctree.InsertItem(img.tt, img.extent, format.Key{ObjectID: b2, Type: format.SharedDataRefKey, Offset: parent}, le(uint32(1))))
	requireCorrupt(t, img.run(dataRef(b2, 4096, 5, 257, 0, -1)), "extent refs 0 with backrefs left, have 1 expect 0")
	b3 := b + 2<<20
	key3 := format.Key{ObjectID: b3, Type: format.ExtentItemKey, Offset: 4096}
	require.NoError(t, ctree.InsertItem(img.tt, img.extent, key3, append(le(1, 4, format.ExtentFlagData), inlineDataRef(5, 257, 0, 2)...)))
	requireCorrupt(t, img.run(dataRef(b3, 4096, 5, 257, 0, -2)), "extent refs underflow, have 1 expect >= 2")
	// A keyed backref without its extent item.
	b4 := b + 3<<20
	require.NoError(t, ctree.InsertItem(img.tt, img.extent, format.Key{ObjectID: b4, Type: format.SharedDataRefKey, Offset: parent}, le(uint32(1))))
	requireCorrupt(t, img.run(dataRef(b4, 4096, 5, 257, 0, 1)), "backref items without an extent item")
	// An item that does not decode.
	b5 := b + 4<<20
	require.NoError(t, ctree.InsertItem(img.tt, img.extent, format.Key{ObjectID: b5, Type: format.ExtentItemKey, Offset: 4096},
		append(le(1, 4, format.ExtentFlagData), 99, 1, 2)))
	requireCorrupt(t, img.run(dataRef(b5, 4096, 5, 257, 0, -1)), "bad extent item", "unknown inline ref type 99")
	for _, x := range []uint64{b2, b3, b4, b5} { // leave a tree the checker accepts
		for _, it := range img.items(t, x) {
			require.NoError(t, ctree.DeleteItem(img.tt, img.extent, it.Key))
		}
	}

	// A non-skinny tree block EXTENT_ITEM (tree_block_info) with a keyed
	// TREE_BLOCK_REF instead of an inline one.
	tb := img.meta.End() - 16384
	tkey := format.Key{ObjectID: tb, Type: format.ExtentItemKey, Offset: 16384}
	tdata := append(le(1, 4, format.ExtentFlagTreeBlock), make([]byte, format.TreeBlockInfoSize)...)
	tdata[len(tdata)-1] = 2 // level
	rkey := format.Key{ObjectID: tb, Type: format.TreeBlockRefKey, Offset: 5}
	require.NoError(t, ctree.InsertItem(img.tt, img.extent, tkey, tdata))
	require.NoError(t, ctree.InsertItem(img.tt, img.extent, rkey, nil))
	requireCorrupt(t, img.run(treeRef(tb, 5, 1, -1)), "tree block level mismatch, have 2 expect 1")
	require.NoError(t, img.run(treeRef(tb, 5, 2, -1)))
	require.Empty(t, img.items(t, tb))
	require.Equal(t, []acctEvent{{false, tb, 16384, false}}, img.acct.take())
	img.commit(t)
}

// collidingOffsets returns two sector-aligned file offsets whose data refs
// (root 5, inode 257) have the same hash: the low half of the hash is a
// CRC-32C of (inode, offset), so a birthday search finds a pair quickly
// (among offsets spread over more than 32 bits: CRC-32C tells apart any two
// that differ in a 32-bit span).
func collidingOffsets(t *testing.T, root, ino uint64) (uint64, uint64) {
	t.Helper()
	seen := map[uint64]uint64{}
	r := rand.New(rand.NewPCG(root, ino))
	for range 1 << 20 {
		off := r.Uint64N(1<<50) * 4096 // far below 2^63, the largest file size
		h := format.ExtentDataRefHash(root, ino, off)
		if prev, ok := seen[h]; ok {
			return prev, off
		}
		seen[h] = off
	}
	t.Fatal("no hash collision found")
	return 0, 0
}

// On a hash collision inline refs keep insertion order, and a keyed ref
// takes the next free key offset; both stay findable.
func TestDataRefHashCollision(t *testing.T) {
	img := newRefImage(t, 4096) // 6 refs inline at most
	o1, o2 := collidingOffsets(t, 5, 257)
	h := format.ExtentDataRefHash(5, 257, o1)
	t.Logf("offsets %d and %d share hash %d", o1, o2, h)
	b := img.data.Logical
	gen := img.tt.Transid()
	require.NoError(t, img.run(dataRef(b, 4096, 5, 257, o2, 1)))
	require.NoError(t, img.run(dataRef(b, 4096, 5, 257, o1, 1)))
	got := img.items(t, b)
	require.Equal(t, append(le(2, gen, format.ExtentFlagData),
		append(inlineDataRef(5, 257, o2, 1), inlineDataRef(5, 257, o1, 1)...)...), got[0].Data)
	require.NoError(t, img.run(dataRef(b, 4096, 5, 257, o2, -1), dataRef(b, 4096, 5, 257, o1, -1)))
	require.Empty(t, img.items(t, b))

	// Keyed: fill the inline space first.
	var mods []alloc.RefMod
	for i := range 6 {
		mods = append(mods, dataRef(b, 4096, 5, 300+uint64(i), 0, 1))
	}
	require.NoError(t, img.run(mods...))
	require.NoError(t, img.run(dataRef(b, 4096, 5, 257, o1, 1)))
	require.NoError(t, img.run(dataRef(b, 4096, 5, 257, o2, 2)))
	got = img.items(t, b)
	require.Len(t, got, 3)
	require.Equal(t, ctree.Item{Key: format.Key{ObjectID: b, Type: format.ExtentDataRefKey, Offset: h},
		Data: (&format.ExtentDataRef{Root: 5, ObjectID: 257, Offset: o1, Count: 1}).Encode()}, got[1])
	require.Equal(t, ctree.Item{Key: format.Key{ObjectID: b, Type: format.ExtentDataRefKey, Offset: h + 1},
		Data: (&format.ExtentDataRef{Root: 5, ObjectID: 257, Offset: o2, Count: 2}).Encode()}, got[2])
	// The ref at hash goes; the one above it is still found and updated.
	require.NoError(t, img.run(dataRef(b, 4096, 5, 257, o1, -1)))
	require.NoError(t, img.run(dataRef(b, 4096, 5, 257, o2, -1)))
	got = img.items(t, b)
	require.Len(t, got, 2)
	require.Equal(t, ctree.Item{Key: format.Key{ObjectID: b, Type: format.ExtentDataRefKey, Offset: h + 1},
		Data: (&format.ExtentDataRef{Root: 5, ObjectID: 257, Offset: o2, Count: 1}).Encode()}, got[1])
	// A new colliding ref now takes the free offset at hash again.
	require.NoError(t, img.run(dataRef(b, 4096, 5, 257, o1, 1)))
	got = img.items(t, b)
	require.Len(t, got, 3)
	require.Equal(t, format.Key{ObjectID: b, Type: format.ExtentDataRefKey, Offset: h}, got[1].Key)
	img.commit(t)
}

// TestKernelDataRefs is the oracle for data backrefs: the kernel adds and
// drops references to one data extent, one per transaction (clones into
// other inodes, a subvolume, a pair of file offsets whose refs share a
// hash; truncates and a hole punch), and the runner, given the same changes
// in the same order, must leave byte-identical items: inline order, the
// inline size limit, keyed placement and collision offsets.
func TestKernelDataRefs(t *testing.T) {
	oracle(t)
	for _, ns := range []uint32{4096, 16384} {
		t.Run(fmt.Sprint(ns), func(t *testing.T) { kernelDataRefs(t, ns) })
	}
}

// kernelScript runs the oracle's file operations on a mounted image and
// records the reference change each one makes.
type kernelScript struct {
	t    *testing.T
	dir  string
	src  *os.File
	open []*os.File // closed before the unmount
	mods []alloc.RefDelta
	// twins are the two refs of one inode whose hashes collide.
	twins [2]format.ExtentDataRef
}

const kernelExtentLen = 65536

// file creates (or opens) name in the subvolume of root and returns it
// with its inode number.
func (k *kernelScript) file(name string) (*os.File, uint64) {
	f, err := os.OpenFile(filepath.Join(k.dir, name), os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(k.t, err)
	k.open = append(k.open, f)
	var st unix.Stat_t
	require.NoError(k.t, unix.Fstat(int(f.Fd()), &st))
	return f, st.Ino
}

// step records mod and commits the transaction that made it.
func (k *kernelScript) step(mod alloc.RefDelta) {
	k.mods = append(k.mods, mod)
	require.NoError(k.t, testmount.Sync(k.dir))
}

func (k *kernelScript) clone(name string, root, off uint64) {
	f, ino := k.file(name)
	require.NoError(k.t, unix.IoctlFileCloneRange(int(f.Fd()), &unix.FileCloneRange{
		Src_fd: int64(k.src.Fd()), Src_length: kernelExtentLen, Dest_offset: off}))
	k.step(alloc.RefDelta{Root: root, Objectid: ino, Offset: off, Delta: 1})
}

func (k *kernelScript) truncate(name string, root uint64) {
	f, ino := k.file(name)
	require.NoError(k.t, f.Truncate(0))
	k.step(alloc.RefDelta{Root: root, Objectid: ino, Delta: -1})
}

func (k *kernelScript) punch(name string, root, off uint64) {
	f, ino := k.file(name)
	require.NoError(k.t, unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE,
		int64(off), kernelExtentLen))
	k.step(alloc.RefDelta{Root: root, Objectid: ino, Offset: off, Delta: -1})
}

func (k *kernelScript) run() {
	t := k.t
	defer func() {
		for _, f := range k.open {
			f.Close()
		}
	}()
	src, srcIno := k.file("src")
	k.src = src
	data := make([]byte, kernelExtentLen)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	_, err := src.Write(data)
	require.NoError(t, err)
	k.step(alloc.RefDelta{Root: 5, Objectid: srcIno, Delta: 1})
	for i := range 5 { // 6 refs: the 4 KiB node limit
		k.clone(fmt.Sprintf("c%d", i), 5, 0)
	}
	_, fIno := k.file("f")
	o1, o2 := collidingOffsets(t, 5, fIno)
	k.twins = [2]format.ExtentDataRef{{Root: 5, ObjectID: fIno, Offset: o1, Count: 1}, {Root: 5, ObjectID: fIno, Offset: o2, Count: 1}}
	k.clone("f", 5, o1)
	k.clone("f", 5, o2)
	sh(t, "btrfs", "subvolume", "create", filepath.Join(k.dir, "sub"))
	sub, err := strconv.ParseUint(strings.TrimSpace(sh(t, "btrfs", "inspect-internal", "rootid", filepath.Join(k.dir, "sub"))), 10, 64)
	require.NoError(t, err)
	k.clone("sub/s", sub, 0)
	k.clone("sub/s", sub, 3*kernelExtentLen)
	k.truncate("c0", 5)
	k.truncate("c1", 5)
	k.clone("c5", 5, 0) // keyed where keyed refs exist, though it would fit
	k.punch("f", 5, o1)
	k.clone("f", 5, o1) // inline: after its equal-hash twin; keyed: at the free hash
	for i := range 40 { // past the 16 KiB node limit
		k.clone(fmt.Sprintf("d%d", i), 5, uint64(i%3)*kernelExtentLen)
	}
}

func kernelDataRefs(t *testing.T, nodesize uint32) {
	path := kernelMkfs(t, nodesize)
	k := &kernelScript{t: t}
	mounted(t, path, func(dir string) {
		k.dir = dir
		k.run()
	})

	// The kernel's items for the extent.
	ki := openKernelImage(t, path)
	fe := firstFileExtent(t, ki.tree(t, format.FSTreeObjectID), k.mods[0].Objectid)
	bytenr := fe.DiskBytenr
	want := scanItems(t, ki.tree(t, format.ExtentTreeObjectID), format.Key{ObjectID: bytenr, Type: format.ExtentItemKey},
		format.Key{ObjectID: bytenr, Type: format.SharedDataRefKey + 1})
	require.NotEmpty(t, want)
	require.Equal(t, format.Key{ObjectID: bytenr, Type: format.ExtentItemKey, Offset: kernelExtentLen}, want[0].Key)
	gen := binary.LittleEndian.Uint64(want[0].Data[8:])
	t.Logf("kernel, nodesize %d: extent item %d bytes (%d refs inline), %d keyed refs",
		nodesize, len(want[0].Data), (len(want[0].Data)-24)/29, len(want)-1)

	checkTwins(t, nodesize, k.twins, want)

	// The same changes, one head per transaction, through the runner.
	img := newRefImage(t, nodesize)
	for _, m := range k.mods {
		d := alloc.NewDelayedRefs()
		d.Add(alloc.RefMod{Bytenr: bytenr, NumBytes: kernelExtentLen, Data: true, Root: m.Root,
			Objectid: m.Objectid, Offset: m.Offset, Delta: m.Delta})
		require.NoError(t, runRefHeads(img.tt, img.extent, img.acct, d.Take(), gen))
	}
	require.Equal(t, want, img.items(t, bytenr))
	img.commit(t)
}

// firstFileExtent returns the regular file extent at offset 0 of inode ino.
func firstFileExtent(t *testing.T, fs *ctree.Root, ino uint64) *format.FileExtent {
	t.Helper()
	b, err := ctree.Lookup(fs, format.Key{ObjectID: ino, Type: format.ExtentDataKey})
	require.NoError(t, err)
	fe, err := format.DecodeFileExtent(b)
	require.NoError(t, err)
	require.Equal(t, uint64(kernelExtentLen), fe.DiskNumBytes)
	return fe
}

// checkTwins states what the kernel did with the colliding refs (o1 added,
// o2 added, o1 dropped, o1 added again): with 16 KiB nodes both are inline,
// o2 first (a ref goes after those of equal hash); with 4 KiB nodes both
// are keyed, o2 at hash+1 and o1 back at the hash, which had become free.
func checkTwins(t *testing.T, nodesize uint32, twins [2]format.ExtentDataRef, items []ctree.Item) {
	t.Helper()
	h := twins[0].Hash()
	if nodesize == 16384 {
		item, err := format.DecodeExtentItem(items[0].Data, format.ExtentItemKey)
		require.NoError(t, err)
		pos := []int{-1, -1}
		for i, r := range item.Inline {
			for j, tw := range twins {
				if r.Data == tw {
					pos[j] = i
				}
			}
		}
		require.True(t, pos[0] >= 0 && pos[1] == pos[0]-1, "kernel: twins inline at %v", pos)
		t.Logf("kernel: colliding refs inline at positions %d (added last) and %d", pos[0], pos[1])
		return
	}
	byOffset := map[uint64]format.ExtentDataRef{}
	for _, it := range items[1:] {
		d, err := format.DecodeExtentDataRef(it.Data)
		require.NoError(t, err)
		byOffset[it.Key.Offset] = *d
	}
	require.Equal(t, twins[0], byOffset[h], "kernel: keyed ref at the hash")
	require.Equal(t, twins[1], byOffset[h+1], "kernel: keyed ref at hash+1")
	t.Logf("kernel: colliding refs keyed at %d (re-added) and %d", h, h+1)
}

// refModel is what the extent tree must hold for the extents a randomized
// test touches: a plain restatement of the rules (adds before drops within
// a head; a new data ref inline while no keyed ref exists and the item stays
// below the limit, inline refs sorted by hash descending, stable; keyed at
// the first free offset from the hash up).
type refModel struct {
	limit int
	ext   map[uint64]*modelExtent
}

type modelExtent struct {
	data     bool
	numBytes uint64
	level    int
	gen      uint64
	refs     uint64
	owner    uint64                          // tree block
	inline   []format.ExtentDataRef          // data, in item order
	keyed    map[uint64]format.ExtentDataRef // data: key offset → ref
}

// apply applies one head and returns the accounting events it must cause.
func (m *refModel) apply(h *alloc.RefHead, transid uint64) []acctEvent {
	e := m.ext[h.Bytenr]
	if !h.Data {
		if r := h.Refs[0]; r.Delta > 0 {
			m.ext[h.Bytenr] = &modelExtent{numBytes: h.NumBytes, level: h.Level, gen: transid, refs: 1, owner: r.Root}
			return []acctEvent{{true, h.Bytenr, h.NumBytes, false}}
		}
		delete(m.ext, h.Bytenr)
		return []acctEvent{{false, h.Bytenr, h.NumBytes, false}}
	}
	var ev []acctEvent
	if e == nil {
		e = &modelExtent{data: true, numBytes: h.NumBytes, gen: transid, keyed: map[uint64]format.ExtentDataRef{}}
		m.ext[h.Bytenr] = e
		ev = append(ev, acctEvent{true, h.Bytenr, h.NumBytes, true})
	}
	for _, adds := range []bool{true, false} {
		for _, r := range h.Refs {
			if (r.Delta > 0) == adds {
				m.change(e, r)
			}
		}
	}
	if e.refs == 0 {
		delete(m.ext, h.Bytenr)
		ev = append(ev, acctEvent{false, h.Bytenr, h.NumBytes, true})
	}
	return ev
}

func (m *refModel) change(e *modelExtent, r alloc.RefDelta) {
	e.refs = uint64(int64(e.refs) + r.Delta)
	id := format.ExtentDataRef{Root: r.Root, ObjectID: r.Objectid, Offset: r.Offset}
	for i, x := range e.inline {
		if sameDataRef(x, id) {
			e.inline[i].Count = uint32(int64(x.Count) + r.Delta)
			if e.inline[i].Count == 0 {
				e.inline = slices.Delete(e.inline, i, i+1)
			}
			return
		}
	}
	for off, x := range e.keyed {
		if sameDataRef(x, id) {
			x.Count = uint32(int64(x.Count) + r.Delta)
			e.keyed[off] = x
			if x.Count == 0 {
				delete(e.keyed, off)
			}
			return
		}
	}
	id.Count = uint32(r.Delta)
	if len(e.keyed) == 0 && 24+29*(len(e.inline)+1) < m.limit {
		e.inline = append(e.inline, id)
		slices.SortStableFunc(e.inline, func(a, b format.ExtentDataRef) int { return -cmpU64(a.Hash(), b.Hash()) })
		return
	}
	off := id.Hash()
	for _, taken := e.keyed[off]; taken; _, taken = e.keyed[off] {
		off++
	}
	e.keyed[off] = id
}

// items returns the items the model's extents must have.
func (m *refModel) items() []ctree.Item {
	var out []ctree.Item
	for b, e := range m.ext {
		if !e.data {
			out = append(out, ctree.Item{Key: format.Key{ObjectID: b, Type: format.MetadataItemKey, Offset: uint64(e.level)},
				Data: le(1, e.gen, format.ExtentFlagTreeBlock, format.TreeBlockRefKey, e.owner)})
			continue
		}
		item := le(e.refs, e.gen, format.ExtentFlagData)
		for _, r := range e.inline {
			item = append(item, inlineDataRef(r.Root, r.ObjectID, r.Offset, r.Count)...)
		}
		out = append(out, ctree.Item{Key: format.Key{ObjectID: b, Type: format.ExtentItemKey, Offset: e.numBytes}, Data: item})
		for off, r := range e.keyed {
			out = append(out, ctree.Item{Key: format.Key{ObjectID: b, Type: format.ExtentDataRefKey, Offset: off}, Data: r.Encode()})
		}
	}
	return out
}

// refGen draws valid random ref mods for one transaction, tracking what
// each reference will be once the queued mods are applied.
type refGen struct {
	r       *rand.Rand
	m       *refModel
	data    []uint64 // data extent addresses (length: dataLen)
	trees   []uint64 // tree block addresses
	ids     []format.ExtentDataRef
	pending map[uint64]map[format.ExtentDataRef]int64 // data: count after the queue
	tree    map[uint64]int                            // tree: 1 exists after the queue, 0 not, -1 dropped from disk
	mods    []alloc.RefMod
	ns      uint64 // nodesize
}

func dataLen(i int) uint64 { return 4096 * uint64(1+i%16) }

func newRefGen(r *rand.Rand, m *refModel, img *refImage, twins [2]uint64) *refGen {
	g := &refGen{r: r, m: m, ns: uint64(img.res.NodeSize)}
	for i := range 24 {
		g.data = append(g.data, img.data.Logical+uint64(i)<<20)
	}
	for i := range 32 {
		g.trees = append(g.trees, img.meta.End()-uint64(i+1)*uint64(img.res.NodeSize))
	}
	for _, root := range []uint64{5, 256, 300} {
		for ino := uint64(256); ino < 264; ino++ {
			for _, off := range []uint64{0, 4096, 1 << 20} {
				g.ids = append(g.ids, format.ExtentDataRef{Root: root, ObjectID: ino, Offset: off})
			}
		}
	}
	for _, off := range twins {
		g.ids = append(g.ids, format.ExtentDataRef{Root: 5, ObjectID: 257, Offset: off})
	}
	return g
}

// round draws n mods for one transaction.
func (g *refGen) round(n int) []alloc.RefMod {
	g.mods, g.pending, g.tree = nil, map[uint64]map[format.ExtentDataRef]int64{}, map[uint64]int{}
	for range n {
		switch x := g.r.IntN(100); {
		case x < 45:
			g.addData()
		case x < 78:
			g.dropData()
		case x < 82:
			g.dropExtent()
		case x < 92:
			g.allocTree()
		default:
			g.freeTree()
		}
	}
	return g.mods
}

func (g *refGen) counts(b uint64) map[format.ExtentDataRef]int64 {
	if c := g.pending[b]; c != nil {
		return c
	}
	c := map[format.ExtentDataRef]int64{}
	if e := g.m.ext[b]; e != nil {
		for _, r := range e.inline {
			c[format.ExtentDataRef{Root: r.Root, ObjectID: r.ObjectID, Offset: r.Offset}] = int64(r.Count)
		}
		for _, r := range e.keyed {
			c[format.ExtentDataRef{Root: r.Root, ObjectID: r.ObjectID, Offset: r.Offset}] = int64(r.Count)
		}
	}
	g.pending[b] = c
	return c
}

func (g *refGen) addData() {
	i := g.r.IntN(len(g.data))
	id := g.ids[g.r.IntN(len(g.ids))]
	d := int64(1 + g.r.IntN(3))
	g.counts(g.data[i])[id] += d
	g.mods = append(g.mods, dataRef(g.data[i], dataLen(i), id.Root, id.ObjectID, id.Offset, d))
}

func (g *refGen) dropData() {
	i := g.r.IntN(len(g.data))
	c := g.counts(g.data[i])
	var live []format.ExtentDataRef
	for id, n := range c {
		if n > 0 {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		return
	}
	slices.SortFunc(live, func(a, b format.ExtentDataRef) int { return cmpU64(a.Hash(), b.Hash()) })
	id := live[g.r.IntN(len(live))]
	d := 1 + g.r.Int64N(c[id])
	if g.r.IntN(3) == 0 {
		d = c[id] // often drop it all
	}
	c[id] -= d
	g.mods = append(g.mods, dataRef(g.data[i], dataLen(i), id.Root, id.ObjectID, id.Offset, -d))
}

// dropExtent drops every reference of one data extent (a file deleted).
func (g *refGen) dropExtent() {
	i := g.r.IntN(len(g.data))
	c := g.counts(g.data[i])
	ids := slices.SortedFunc(maps.Keys(c), func(a, b format.ExtentDataRef) int { return cmpU64(a.Hash(), b.Hash()) })
	for _, id := range ids {
		if n := c[id]; n > 0 {
			c[id] = 0
			g.mods = append(g.mods, dataRef(g.data[i], dataLen(i), id.Root, id.ObjectID, id.Offset, -n))
		}
	}
}

// allocTree allocates a block that is not in the extent tree, and now and
// then frees it again in the same transaction (then the address may be
// allocated once more, for another tree at another level).
func (g *refGen) allocTree() {
	b := g.trees[g.r.IntN(len(g.trees))]
	if g.m.ext[b] != nil || g.tree[b] != 0 {
		return
	}
	root, level := []uint64{2, 5, 7, 256}[g.r.IntN(4)], g.r.IntN(4)
	m := alloc.RefMod{Bytenr: b, NumBytes: g.ns, Root: root, Level: level, Delta: 1}
	g.mods = append(g.mods, m)
	g.tree[b] = 1
	if g.r.IntN(3) == 0 {
		m.Delta = -1
		g.mods = append(g.mods, m)
		g.tree[b] = 0
	}
}

func (g *refGen) freeTree() {
	b := g.trees[g.r.IntN(len(g.trees))]
	e := g.m.ext[b]
	if e == nil || g.tree[b] != 0 {
		return
	}
	g.mods = append(g.mods, alloc.RefMod{Bytenr: b, NumBytes: g.ns, Root: e.owner, Level: e.level, Delta: -1})
	g.tree[b] = -1
}

// TestRefsModel runs thousands of random ref mods, a transaction at a time,
// and after each compares the whole extent tree with mkfs's items plus the
// model's, item by item and byte by byte, and the accounting calls with the
// model's. 4 KiB nodes: 6 data refs fit inline, and the tree grows levels.
func TestRefsModel(t *testing.T) {
	seed := refsSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	img := newRefImage(t, 4096)
	baseline := img.all(t)
	m := &refModel{limit: maxExtentItemSize(4096), ext: map[uint64]*modelExtent{}}
	o1, o2 := collidingOffsets(t, 5, 257)
	g := newRefGen(r, m, img, [2]uint64{o1, o2})
	rounds, mods := 1000, 0
	events := map[bool]int{}
	if testing.Short() {
		rounds = 60
	}
	for round := range rounds {
		batch := g.round(1 + r.IntN(40))
		mods += len(batch)
		d := alloc.NewDelayedRefs()
		for _, mod := range batch {
			d.Add(mod)
		}
		heads := d.Take()
		transid := img.tt.Transid()
		require.NoError(t, runRefHeads(img.tt, img.extent, img.acct, heads, transid), "round %d", round)
		var want []acctEvent
		for _, h := range heads {
			want = append(want, m.apply(h, transid)...)
		}
		require.Equal(t, want, img.acct.take(), "round %d: accounting", round)
		for _, ev := range want {
			events[ev.inserted]++
		}
		requireItems(t, round, append(slices.Clone(baseline), m.items()...), img.all(t))
		if r.IntN(4) == 0 {
			img.commit(t)
		}
	}
	img.commit(t)
	keyed, inline := 0, 0
	for _, e := range m.ext {
		keyed, inline = keyed+len(e.keyed), inline+len(e.inline)
	}
	t.Logf("%d mods in %d transactions: %d extent items inserted, %d deleted; at the end %d extents, "+
		"%d inline and %d keyed data refs, extent tree level %d",
		mods, rounds, events[true], events[false], len(m.ext), inline, keyed, img.extent.Level())
}

// requireItems compares the extent tree's items with the expected ones
// (in any order), reporting the first difference.
func requireItems(t *testing.T, round int, want, got []ctree.Item) {
	t.Helper()
	slices.SortFunc(want, func(a, b ctree.Item) int { return a.Key.Compare(b.Key) })
	for i := range min(len(want), len(got)) {
		if want[i].Key != got[i].Key || !slices.Equal(want[i].Data, got[i].Data) {
			require.Equal(t, want[i], got[i], "round %d: item %d", round, i)
		}
	}
	require.Equal(t, len(want), len(got), "round %d: number of items", round)
}
