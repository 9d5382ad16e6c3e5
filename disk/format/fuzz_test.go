package format

// Native fuzz targets for every decoder of bytes read from disk. Decoders must
// never panic, must mark every failure as ErrCorrupt, and whatever decodes
// must encode back to exactly the input bytes.
//
// Seeds live in testdata/fuzz/<Target>/seed-*: real superblocks, leaves,
// nodes and items from mkfs.btrfs and kernel-written images. Regenerate them
// (needs mkfs.btrfs; root adds the kernel image) with
//
//	go test -run TestWriteFuzzSeeds ./disk/format/ -args -write-seeds
//
// Run a target with, for example,
//
//	go test -run '^$' -fuzz '^FuzzItem$' -fuzztime 60s ./disk/format/

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzNodesize is the block size FuzzLeaf and FuzzNode work on.
const fuzzNodesize = 4096

// fuzzBlock pads or truncates data to one tree block.
func fuzzBlock(data []byte) []byte {
	b := make([]byte, fuzzNodesize)
	copy(b, data)
	return b
}

// requireRoundTrip checks the decode contract: an error is ErrCorrupt-marked
// and comes with no value; a success encodes back to exactly data.
func requireRoundTrip(t *testing.T, data []byte, it Item, err error) {
	t.Helper()
	if err != nil {
		require.ErrorIs(t, err, ErrCorrupt)
		require.Nil(t, it)
		return
	}
	require.True(t, it != nil) // a nil slice inside is fine (empty EXTENT_CSUM)
	enc := it.Encode()
	require.True(t, bytes.Equal(data, enc), "re-encodes differently:\n in %x\nout %x", data, enc)
}

// FuzzSuper: DecodeSuper accepts exactly 4096 bytes, every such block
// re-encodes identically, and the sys_chunk_array decodes without panicking
// and, when it decodes, re-encodes identically.
func FuzzSuper(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, SuperSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		sb, err := DecodeSuper(data)
		if len(data) != SuperSize {
			require.ErrorIs(t, err, ErrCorrupt)
			require.Nil(t, sb)
			data = fuzzBlock(data)[:SuperSize]
			sb, err = DecodeSuper(data)
		}
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, sb.Encode()))
		_, _ = sb.LabelString(), sb.MetadataFsid()
		_ = sb.CsumType.VerifyBlockCsum(data)
		if sb.CsumType.Valid() {
			cp := *sb
			require.True(t, sb.CsumType.VerifyBlockCsum(cp.EncodeWithCsum()))
		}
		requireSysChunksRoundTrip(t, sb)
	})
}

// requireSysChunksRoundTrip decodes the array and, on success, re-encodes it
// into a fresh superblock: the first SysChunkArraySize bytes must match.
func requireSysChunksRoundTrip(t *testing.T, sb *Super) {
	t.Helper()
	chunks, err := sb.SysChunks()
	if err != nil {
		require.ErrorIs(t, err, ErrCorrupt)
		return
	}
	n := sb.SysChunkArraySize
	require.LessOrEqual(t, n, uint32(SysChunkArrayMax))
	var cp Super
	require.NoError(t, cp.SetSysChunks(chunks))
	require.Equal(t, n, cp.SysChunkArraySize)
	require.True(t, bytes.Equal(sb.SysChunkArray[:n], cp.SysChunkArray[:n]))
	for _, c := range chunks {
		require.Len(t, c.Chunk.Stripes, int(c.Chunk.NumStripes))
	}
}

// FuzzSysChunkArray: arbitrary array bytes and an arbitrary size field.
func FuzzSysChunkArray(f *testing.F) {
	f.Add(uint32(0), []byte{})
	f.Add(uint32(97), make([]byte, 97))
	f.Add(uint32(SysChunkArrayMax+1), []byte{1})
	f.Fuzz(func(t *testing.T, size uint32, arr []byte) {
		var sb Super
		copy(sb.SysChunkArray[:], arr)
		sb.SysChunkArraySize = size
		requireSysChunksRoundTrip(t, &sb)
	})
}

// FuzzItem dispatches through DecodeItem, which covers every item decoder.
//
// Two encodings of one value would break byte identity; the format has one
// such case and the decoder keeps it exact: a ROOT_ITEM is 439 bytes or the
// 239-byte legacy prefix, and DecodeItem returns a value that re-encodes to
// the size it was read from. Everything else has a single encoding: lengths
// (name_len, data_len, num_stripes) are written from the decoded slices,
// which the decoder made exactly that long; EXTENT_ITEM's tree_block_info is
// present iff the flags and key type say so, both of which round-trip; an
// inline file extent keeps its trailing bytes as they are. So no exception is
// needed: Encode(Decode(b)) == b whenever Decode succeeds.
func FuzzItem(f *testing.F) {
	for _, typ := range []uint8{InodeItemKey, InodeRefKey, DirItemKey, ExtentDataKey,
		ExtentCsumKey, RootItemKey, ExtentItemKey, MetadataItemKey, ChunkItemKey} {
		f.Add(typ, uint64(256), []byte{})
	}
	f.Add(PersistentItemKey, DevStatsObjectID, make([]byte, 40))
	f.Add(RootItemKey, FSTreeObjectID, make([]byte, RootItemLegacySize))
	f.Fuzz(func(t *testing.T, keyType uint8, objectid uint64, data []byte) {
		k := Key{ObjectID: objectid, Type: keyType}
		// The csum size only matters for EXTENT_CSUM: try each, and 0.
		for _, cs := range []int{4, 8, 32, 0} {
			it, err := DecodeItem(k, data, ItemContext{CsumSize: cs})
			requireRoundTrip(t, data, it, err)
			if keyType != ExtentCsumKey {
				break
			}
			if cs == 0 {
				require.Error(t, err)
			}
		}
	})
}

// FuzzLeaf walks an arbitrary 4 KiB block as a leaf: every item reachable
// through ItemDataChecked is decoded. Nothing may panic.
func FuzzLeaf(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		walkFuzzLeaf(t, Leaf(fuzzBlock(data)))
		if len(data) >= HeaderSize {
			walkFuzzLeaf(t, Leaf(data)) // any length from a header up
		}
		// Bounds checks on indexes no walk produces.
		for _, i := range []int{-1, math.MinInt, math.MaxInt, math.MaxInt / ItemHeaderSize} {
			_, err := Leaf(data).ItemDataChecked(i)
			require.ErrorIs(t, err, ErrItemBounds)
		}
	})
}

func walkFuzzLeaf(t *testing.T, l Leaf) {
	h := l.Header()
	_, _, _, _ = h.Owner(), h.Generation(), h.Flags(), h.BackrefRev()
	ctx := ItemContext{CsumSize: 4, Owner: h.Owner()}
	for i := 0; i < l.NrItems(); i++ {
		data, err := l.ItemDataChecked(i)
		if err != nil {
			require.ErrorIs(t, err, ErrItemBounds)
			if itemHdr(i+1) > len(l) {
				break // headers past the block: nothing further is reachable
			}
			continue
		}
		require.EqualValues(t, l.ItemSize(i), len(data))
		it, err := DecodeItem(l.ItemKey(i), data, ctx)
		requireRoundTrip(t, data, it, err)
	}
}

// FuzzNode reads every pointer PtrInBounds admits, plus one arbitrary index.
func FuzzNode(f *testing.F) {
	f.Add([]byte{}, 0)
	f.Add([]byte{}, math.MaxInt)
	f.Add([]byte{}, -1)
	f.Fuzz(func(t *testing.T, data []byte, idx int) {
		n := Node(fuzzBlock(data))
		maxPtrs := MaxKeyPtrs(fuzzNodesize)
		for i := 0; i < n.NrItems() && n.PtrInBounds(i); i++ {
			p := n.Ptr(i)
			require.Equal(t, p.Key, n.Key(i))
		}
		require.Equal(t, idx >= 0 && idx < maxPtrs, n.PtrInBounds(idx), "PtrInBounds(%d)", idx)
		if n.PtrInBounds(idx) {
			_ = n.Ptr(idx)
		}
		short := Node(data)
		if short.PtrInBounds(idx) {
			_ = short.Ptr(idx)
		}
	})
}

// Per-decoder targets: the same contract, with the fuzzer's whole budget on
// one variable-length layout.

func FuzzInodeRefs(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 2, 0, '.', '.'})
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := wrap(DecodeInodeRefs(data))
		requireRoundTrip(t, data, it, err)
		it, err = wrap(DecodeInodeExtrefs(data))
		requireRoundTrip(t, data, it, err)
	})
}

func FuzzDirItem(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeDirItem(data)
		it, err := wrap(v, err)
		requireRoundTrip(t, data, it, err)
		var total int
		for _, e := range v {
			total += e.Size()
		}
		if err == nil {
			require.Equal(t, len(data), total)
		}
	})
}

func FuzzExtentItem(f *testing.F) {
	f.Add(false, []byte{})
	f.Add(true, make([]byte, ExtentItemHeaderSize))
	f.Fuzz(func(t *testing.T, metadata bool, data []byte) {
		typ := ExtentItemKey
		if metadata {
			typ = MetadataItemKey
		}
		v, err := DecodeExtentItem(data, typ)
		it, err := wrap(v, err)
		requireRoundTrip(t, data, it, err)
		if err != nil {
			return
		}
		size := ExtentItemHeaderSize
		if v.HasTreeBlockInfo {
			size += TreeBlockInfoSize
		}
		for _, r := range v.Inline {
			require.NotZero(t, InlineRefSize(r.Type))
			size += InlineRefSize(r.Type)
			_ = r.Seq()
		}
		require.Equal(t, len(data), size)
	})
}

func FuzzFileExtent(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, FileExtentRegSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := wrap(DecodeFileExtent(data))
		requireRoundTrip(t, data, it, err)
	})
}

func FuzzChunkItem(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, ChunkItemSize(1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeChunkItem(data)
		it, err := wrap(v, err)
		requireRoundTrip(t, data, it, err)
		if err == nil {
			require.Len(t, v.Stripes, int(v.NumStripes))
			require.Equal(t, len(data), ChunkItemSize(len(v.Stripes)))
		}
	})
}

// TestFuzzIndexBounds pins the overflow cases of the bounds predicates: a
// huge index must not wrap around into "in bounds".
func TestFuzzIndexBounds(t *testing.T) {
	b := make([]byte, fuzzNodesize)
	Header(b).SetNrItems(math.MaxUint32)
	for _, i := range []int{-1, math.MinInt, math.MaxInt, math.MaxInt / 25, math.MaxInt/33 + 1} {
		require.False(t, Node(b).PtrInBounds(i), "PtrInBounds(%d)", i)
		_, err := Leaf(b).ItemDataChecked(i)
		require.ErrorIs(t, err, ErrItemBounds, "ItemDataChecked(%d)", i)
	}
	require.True(t, Node(b).PtrInBounds(MaxKeyPtrs(fuzzNodesize)-1))
	require.False(t, Node(b).PtrInBounds(MaxKeyPtrs(fuzzNodesize)))
	require.False(t, Node(b[:HeaderSize-1]).PtrInBounds(0))
	_, err := Leaf(b[:10]).ItemDataChecked(0)
	require.ErrorIs(t, err, ErrItemBounds)
}

var writeSeeds = flag.Bool("write-seeds", false, "regenerate testdata/fuzz seed corpora from real images")

// TestWriteFuzzSeeds regenerates testdata/fuzz/*/seed-* from 4 KiB-node
// mkfs.btrfs images and, as root, a kernel-populated one.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("regenerate with: go test -run TestWriteFuzzSeeds ./disk/format/ -args -write-seeds")
	}
	w := &seedWriter{t: t, n: map[string]int{}}
	w.clean()
	single := []string{"-n", "4096", "-m", "single", "-d", "single", "-R", "^free-space-tree"}
	images := []func() string{
		func() string { return mkfsImage(t, append([]string{"--csum", "crc32c"}, single...)...) },
		func() string { return mkfsImage(t, append([]string{"--csum", "blake2"}, single...)...) },
		func() string { return mkfsImage(t, "--csum", "sha256", "-n", "4096") }, // DUP, free-space tree
		func() string { return kernelImage(t) },                                 // skips the rest without root
	}
	for i, image := range images {
		g := openGolden(t, image())
		g.onSuper = func(raw []byte, sb *Super) {
			name := fmt.Sprintf("img%d-%s", i, sb.CsumType)
			w.add("FuzzSuper", name, 1, raw)
			w.add("FuzzSysChunkArray", name, 1, sb.SysChunkArraySize, sb.SysChunkArray[:sb.SysChunkArraySize])
		}
		g.onBlock = func(b []byte) {
			h := Header(b)
			if h.IsLeaf() {
				w.add("FuzzLeaf", TreeName(h.Owner()), 1, b)
				w.add("FuzzNode", "leaf", 2, b, int(h.NrItems()))
			} else {
				w.add("FuzzNode", TreeName(h.Owner()), 2, b, 0)
			}
		}
		g.onItem = func(k Key, data []byte) { w.addItem(k, data) }
		g.run()
	}
}

// addItem writes an item for FuzzItem and its per-decoder target.
func (w *seedWriter) addItem(k Key, data []byte) {
	name := KeyTypeString(k.Type)
	if k.Type == ExtentDataKey && len(data) > 20 {
		name += map[uint8]string{FileExtentInline: ".inline", FileExtentReg: ".regular"}[data[20]]
	}
	if (k.Type == ExtentItemKey || k.Type == MetadataItemKey) && len(data) > 60 {
		name += ".multiref"
	}
	w.add("FuzzItem", name, 2, k.Type, k.ObjectID, data)
	switch k.Type {
	case InodeRefKey, InodeExtrefKey:
		w.add("FuzzInodeRefs", name, 3, data)
	case DirItemKey, DirIndexKey, XattrItemKey:
		w.add("FuzzDirItem", name, 3, data)
	case ExtentItemKey, MetadataItemKey:
		w.add("FuzzExtentItem", name, 2, k.Type == MetadataItemKey, data)
	case ExtentDataKey:
		w.add("FuzzFileExtent", name, 3, data)
	case ChunkItemKey:
		w.add("FuzzChunkItem", name, 5, data)
	}
}

type seedWriter struct {
	t *testing.T
	n map[string]int
}

func seedDir(target string) string { return filepath.Join("testdata", "fuzz", target) }

// clean removes generated seeds, keeping any crasher the fuzzer committed.
func (w *seedWriter) clean() {
	old, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "seed-*"))
	require.NoError(w.t, err)
	for _, p := range old {
		require.NoError(w.t, os.Remove(p))
	}
}

// add writes one corpus file unless target already has max seeds named name.
func (w *seedWriter) add(target, name string, max int, vals ...any) {
	key := target + "/" + name
	if w.n[key] >= max {
		return
	}
	w.n[key]++
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		default:
			fmt.Fprintf(&b, "%T(%d)\n", v, v)
		}
	}
	dir := seedDir(target)
	require.NoError(w.t, os.MkdirAll(dir, 0o755))
	file := fmt.Sprintf("seed-%s-%d", strings.ReplaceAll(name, "/", "_"), w.n[key])
	require.NoError(w.t, os.WriteFile(filepath.Join(dir, file), []byte(b.String()), 0o644))
}
