package format

// Golden tests against real images: mkfs.btrfs builds them inside the test
// (nothing binary is committed), the kernel optionally populates one, and
// every superblock, tree block and item must decode and re-encode to exactly
// the bytes on disk.

import (
	"bytes"
	"cowfs/testmount"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenSkip skips loudly (stderr shows it without -v); under CI it fails.
func goldenSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := "SKIP: " + fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", t.Name(), msg)
	t.Skip(msg)
}

// mkfsImage makes a 256 MiB sparse file and runs mkfs.btrfs on it.
func mkfsImage(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		goldenSkip(t, "mkfs.btrfs not installed")
	}
	path := filepath.Join(t.TempDir(), "img")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(256<<20))
	require.NoError(t, f.Close())
	args = append(append([]string{"-f", "-q"}, args...), path)
	out, err := exec.Command("mkfs.btrfs", args...).CombinedOutput()
	require.NoError(t, err, "mkfs.btrfs %v: %s", args, out)
	return path
}

// goldenImage walks an image: chunk tree, root tree, then every ROOT_ITEM's
// tree, checking each block and item on the way.
type goldenImage struct {
	t      *testing.T
	f      *os.File
	sb     *Super
	chunks []SysChunk // logical → physical map (stripe 0)
	roots  []*RootItem
	seen   map[uint64]bool
	counts map[string]int
	fsInfo map[Key]uint32 // FREE_SPACE_INFO key → extent_count
	fsExts []Key          // FREE_SPACE_EXTENT keys

	onBlock func(b []byte)              // seed capture (fuzz_test.go)
	onItem  func(k Key, data []byte)    // seed capture
	onSuper func(raw []byte, sb *Super) // seed capture
}

func openGolden(t *testing.T, path string) *goldenImage {
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return &goldenImage{t: t, f: f, seen: map[uint64]bool{}, counts: map[string]int{}, fsInfo: map[Key]uint32{}}
}

// checkSuper decodes the copy at mirror i and checks re-encoding, checksum
// and sys_chunk_array identity.
func (g *goldenImage) checkSuper(i int) *Super {
	t := g.t
	raw := make([]byte, SuperSize)
	_, err := g.f.ReadAt(raw, MirrorOffset(i))
	require.NoError(t, err)
	sb, err := DecodeSuper(raw)
	require.NoError(t, err)
	require.EqualValues(t, Magic, sb.Magic)
	require.EqualValues(t, MirrorOffset(i), sb.Bytenr)
	require.True(t, bytes.Equal(raw, sb.Encode()), "superblock %d re-encodes differently", i)
	sum := sb.CsumType.SumBlock(raw)
	require.Equal(t, sum, sb.Csum, "superblock %d checksum (%v)", i, sb.CsumType)
	require.True(t, sb.CsumType.VerifyBlockCsum(raw))
	again := *sb
	require.True(t, bytes.Equal(raw, again.EncodeWithCsum()))

	chunks, err := sb.SysChunks()
	require.NoError(t, err)
	require.NotEmpty(t, chunks)
	cp := *sb
	require.NoError(t, cp.SetSysChunks(chunks))
	// Only the first sys_chunk_array_size bytes are the array: DUP images
	// from mkfs.btrfs 6.2 keep stale bytes of an earlier array past it, while
	// SetSysChunks zeroes the tail.
	n := sb.SysChunkArraySize
	require.Equal(t, n, cp.SysChunkArraySize)
	require.True(t, bytes.Equal(sb.SysChunkArray[:n], cp.SysChunkArray[:n]), "sys_chunk_array re-encodes differently")
	if g.onSuper != nil {
		g.onSuper(raw, sb)
	}
	return sb
}

func (g *goldenImage) physical(logical uint64) int64 {
	for _, c := range g.chunks {
		if logical >= c.Key.Offset && logical-c.Key.Offset < c.Chunk.Length {
			return int64(c.Chunk.Stripes[0].Offset + logical - c.Key.Offset)
		}
	}
	g.t.Fatalf("logical %d is in no chunk", logical)
	return 0
}

func (g *goldenImage) read(logical uint64, n int) []byte {
	b := make([]byte, n)
	_, err := g.f.ReadAt(b, g.physical(logical))
	require.NoError(g.t, err)
	return b
}

// run walks the whole image.
func (g *goldenImage) run() {
	g.sb = g.checkSuper(0)
	g.checkSuper(1) // 64 MiB mirror: the image is 256 MiB
	sys, err := g.sb.SysChunks()
	require.NoError(g.t, err)
	g.chunks = sys
	g.walk(g.sb.ChunkRoot, g.sb.ChunkRootGeneration, g.sb.ChunkRootLevel)
	g.chunks = g.chunks[len(sys):] // the chunk tree's own CHUNK_ITEMs from here on
	require.GreaterOrEqual(g.t, len(g.chunks), len(sys))
	g.walk(g.sb.Root, g.sb.Generation, g.sb.RootLevel)
	for i := 0; i < len(g.roots); i++ { // g.roots grows only in the root tree
		r := g.roots[i]
		g.walk(r.Bytenr, r.Generation, r.Level)
	}
}

// walk checks one tree block and recurses into its children.
func (g *goldenImage) walk(logical, gen uint64, level uint8) {
	t := g.t
	if g.seen[logical] {
		return
	}
	g.seen[logical] = true
	b := g.read(logical, int(g.sb.NodeSize))
	h := Header(b)
	sum := g.sb.CsumType.SumBlock(b)
	require.True(t, bytes.Equal(sum[:], h.Csum()), "block %d: checksum", logical)
	require.True(t, g.sb.CsumType.VerifyBlockCsum(b))
	require.Equal(t, logical, h.Bytenr())
	require.Equal(t, g.sb.MetadataFsid(), h.Fsid())
	require.Equal(t, gen, h.Generation(), "block %d generation", logical)
	require.Equal(t, level, h.Level(), "block %d level", logical)
	require.EqualValues(t, BackrefRev, h.BackrefRev())
	if g.onBlock != nil {
		g.onBlock(b)
	}
	if h.IsLeaf() {
		g.leaf(Leaf(b))
		return
	}
	g.counts["node"]++
	n := Node(b)
	rebuilt := Node(make([]byte, len(b)))
	copy(rebuilt, b[:HeaderSize])
	for i := range n.NrItems() {
		require.True(t, n.PtrInBounds(i))
		rebuilt.SetPtr(i, n.Ptr(i))
	}
	copy(rebuilt[ptrOff(n.NrItems()):], b[ptrOff(n.NrItems()):]) // unused tail
	requireSameBlock(t, b, rebuilt, "node", logical)
	for i := range n.NrItems() {
		p := n.Ptr(i)
		g.walk(p.BlockPtr, p.Generation, level-1)
	}
}

// leaf decodes every item, checks Encode identity, and rebuilds the leaf
// from the decoded items with the data packed from the end of the block: this
// checks key, offset and size of every item header and that the data is
// contiguous.
func (g *goldenImage) leaf(l Leaf) {
	t := g.t
	ctx := ItemContext{CsumSize: g.sb.CsumType.Size(), Owner: l.Header().Owner()}
	rebuilt := Leaf(make([]byte, len(l)))
	copy(rebuilt, l[:HeaderSize])
	end := len(l)
	for i := range l.NrItems() {
		data, err := l.ItemDataChecked(i)
		require.NoError(t, err)
		k := l.ItemKey(i)
		it, err := DecodeItem(k, data, ctx)
		require.NoError(t, err, "block %d slot %d %v", l.Header().Bytenr(), i, k)
		enc := it.Encode()
		require.True(t, bytes.Equal(data, enc), "%v re-encodes differently:\n%x\n%x", k, data, enc)
		end -= len(enc)
		rebuilt.SetItem(i, k, uint32(end-HeaderSize), uint32(len(enc)))
		copy(rebuilt[end:], enc)
		if g.onItem != nil {
			g.onItem(k, data)
		}
		g.item(k, it)
	}
	// The free space between item headers and data belongs to no item: the
	// kernel zeroes it, mkfs.btrfs 6.2 leaves stale bytes there.
	free := l[itemHdr(l.NrItems()):end]
	copy(rebuilt[itemHdr(l.NrItems()):], free)
	if !bytes.Equal(free, make([]byte, len(free))) {
		g.counts["leaf.stale_free_space"]++
	}
	requireSameBlock(t, l, rebuilt, "leaf", l.Header().Bytenr())
}

func requireSameBlock(t *testing.T, want, got []byte, what string, bytenr uint64) {
	t.Helper()
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("%s %d rebuilt from decoded items differs at byte %d: %#x vs %#x", what, bytenr, i, want[i], got[i])
		}
	}
}

// item counts the item by kind and checks what the key says about it.
func (g *goldenImage) item(k Key, it Item) {
	t := g.t
	kind := KeyTypeString(k.Type)
	switch v := it.(type) {
	case *ChunkItem:
		g.chunks = append(g.chunks, SysChunk{k, v})
	case *RootItem:
		if k.ObjectID != TreeLogObjectID {
			g.roots = append(g.roots, v)
		}
	case DirItem:
		for _, e := range v {
			if k.Type == DirIndexKey {
				require.Len(t, v, 1, "DIR_INDEX %v", k)
			} else {
				require.Equal(t, NameHash(e.Name), k.Offset, "%v name %q", k, e.Name)
			}
			if e.Location.Type == RootItemKey {
				g.counts[kind+".subvol"]++
			}
		}
	case InodeExtrefItem:
		for _, e := range v {
			require.Equal(t, ExtrefHash(e.Parent, e.Name), k.Offset, "%v name %q", k, e.Name)
		}
	case InodeRefItem:
		g.counts[kind+".entries"] += len(v)
	case *FileExtent:
		kind += map[uint8]string{FileExtentInline: ".inline", FileExtentReg: ".regular"}[v.Type]
	case *ExtentItem:
		g.checkInlineRefs(k, v)
	case *ExtentDataRef:
		require.Equal(t, ExtentDataRefHash(v.Root, v.ObjectID, v.Offset), k.Offset, "%v", k)
		require.Equal(t, k.Offset, v.Hash())
	case CsumItem:
		g.checkDataCsums(k, v)
	case *DevStats:
		kind = "DEV_STATS"
	case *FreeSpaceInfo:
		g.fsInfo[k] = v.ExtentCount
	}
	if k.Type == FreeSpaceExtentKey {
		g.fsExts = append(g.fsExts, k)
	}
	g.counts[kind]++
}

// checkInlineRefs checks ordering (type ascending, sequence descending),
// the data-ref hash, and Σ counts ≤ refs.
func (g *goldenImage) checkInlineRefs(k Key, v *ExtentItem) {
	var total uint64
	for i, r := range v.Inline {
		switch r.Type {
		case ExtentDataRefKey:
			total += uint64(r.Data.Count)
			g.counts["EXTENT_DATA_REF.inline"]++
			require.Equal(g.t, ExtentDataRefHash(r.Data.Root, r.Data.ObjectID, r.Data.Offset), r.Seq())
		case SharedDataRefKey:
			total += uint64(r.Count)
		case TreeBlockRefKey, SharedBlockRefKey:
			total++
		}
		if i > 0 {
			p := v.Inline[i-1]
			ok := p.Type < r.Type || (p.Type == r.Type && p.Seq() > r.Seq())
			require.True(g.t, ok, "%v inline refs %d,%d out of order: %+v %+v", k, i-1, i, p, r)
		}
	}
	require.LessOrEqual(g.t, total, v.Refs, "%v", k)
	if len(v.Inline) > 1 && v.Inline[0].Type == ExtentDataRefKey && v.Inline[1].Type == ExtentDataRefKey {
		g.counts["EXTENT_ITEM.multi_data_ref"]++
	}
}

// checkDataCsums recomputes the csum of every sector the item covers.
func (g *goldenImage) checkDataCsums(k Key, v CsumItem) {
	n := g.sb.CsumType.Size()
	ss := uint64(g.sb.SectorSize)
	for i := range v.Count(n) {
		sum := g.sb.CsumType.Sum(g.read(k.Offset+uint64(i)*ss, int(ss)))
		require.Equal(g.t, sum[:n], v.Sum(i, n), "data csum of sector %d", k.Offset+uint64(i)*ss)
		g.counts["data_sector_csum_ok"]++
	}
}

// checkFreeSpace: each FREE_SPACE_INFO's extent_count equals the number of
// FREE_SPACE_EXTENT items inside its block group.
func (g *goldenImage) checkFreeSpace() {
	require.NotEmpty(g.t, g.fsInfo)
	for bg, want := range g.fsInfo {
		var got uint32
		for _, e := range g.fsExts {
			if e.ObjectID >= bg.ObjectID && e.ObjectID+e.Offset <= bg.ObjectID+bg.Offset {
				got++
			}
		}
		require.Equal(g.t, want, got, "free space extents of block group %d", bg.ObjectID)
	}
}

func (g *goldenImage) requireKinds(kinds ...string) {
	g.t.Helper()
	for _, kind := range kinds {
		require.Positive(g.t, g.counts[kind], "no %s item seen; counts %v", kind, g.counts)
	}
}

// freshKinds are in every mkfs image.
var freshKinds = []string{"INODE_ITEM", "INODE_REF", "DIR_ITEM", "ROOT_ITEM", "CHUNK_ITEM",
	"DEV_ITEM", "DEV_EXTENT", "BLOCK_GROUP_ITEM", "METADATA_ITEM", "UUID_KEY_SUBVOL"}

func TestGoldenMkfs(t *testing.T) {
	for _, csum := range []string{"crc32c", "xxhash", "sha256", "blake2"} {
		for _, nodesize := range []int{4096, 16384, 65536} {
			t.Run(fmt.Sprintf("%s/%d", csum, nodesize), func(t *testing.T) {
				t.Parallel()
				path := mkfsImage(t, "--csum", csum, "-n", fmt.Sprint(nodesize),
					"-m", "single", "-d", "single", "-R", "^free-space-tree")
				g := openGolden(t, path)
				g.run()
				want, err := ParseCsumType(csum)
				require.NoError(t, err)
				require.Equal(t, want, g.sb.CsumType)
				require.EqualValues(t, nodesize, g.sb.NodeSize)
				require.Zero(t, g.sb.CompatRoFlags)
				require.Zero(t, g.counts["FREE_SPACE_INFO"])
				g.requireKinds(freshKinds...)
			})
		}
	}
}

func TestGoldenMkfsDefault(t *testing.T) {
	g := openGolden(t, mkfsImage(t))
	g.run()
	g.requireKinds(freshKinds...)
	g.requireKinds("FREE_SPACE_INFO", "FREE_SPACE_EXTENT")
	g.checkFreeSpace()
	require.Equal(t, CompatRoFreeSpaceTree|CompatRoFreeSpaceTreeValid, g.sb.CompatRoFlags)
	var dup int
	for _, c := range g.chunks {
		if c.Chunk.Type&BlockGroupDup != 0 {
			require.Len(t, c.Chunk.Stripes, 2)
			dup++
		}
	}
	require.Positive(t, dup, "default mkfs should use DUP metadata")
}

// TestGoldenKernel lets the kernel write a small population of files, then
// walks the result: the kernel's own encodings of every item we decode.
func TestGoldenKernel(t *testing.T) {
	path := kernelImage(t)
	g := openGolden(t, path)
	g.run()
	g.requireKinds(freshKinds...)
	g.requireKinds("DIR_INDEX", "XATTR_ITEM", "INODE_EXTREF", "EXTENT_DATA.inline",
		"EXTENT_DATA.regular", "EXTENT_CSUM", "EXTENT_ITEM", "DEV_STATS", "ROOT_REF",
		"ROOT_BACKREF", "DIR_ITEM.subvol", "EXTENT_DATA_REF", "EXTENT_DATA_REF.inline",
		"EXTENT_ITEM.multi_data_ref", "FREE_SPACE_INFO", "node", "data_sector_csum_ok")
	require.Greater(t, g.counts["INODE_REF.entries"], g.counts["INODE_REF"], "some INODE_REF holds several names")
	g.checkFreeSpace()
	t.Logf("item counts: %v", g.counts)
}

// kernelImage builds a 4 KiB-node image and lets the kernel populate it, or
// skips loudly when it cannot mount.
func kernelImage(t *testing.T) string {
	path := mkfsImage(t, "--csum", "xxhash", "-n", "4096")
	if os.Geteuid() != 0 {
		goldenSkip(t, "kernel-populated image needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", path, mnt).CombinedOutput(); err != nil {
		goldenSkip(t, "mount -o loop failed: %v: %s", err, out)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
		}
	})
	populate(t, mnt)
	require.NoError(t, testmount.Sync(mnt))
	require.NoError(t, testmount.Unmount(mnt))
	mounted = false
	return path
}

// populate creates what §1.3 describes plus a symlink, hard links (enough to
// overflow into INODE_EXTREF on 4 KiB nodes), an xattr, reflinks (several
// data refs on one extent, some keyed) and a subvolume (ROOT_REF/BACKREF).
func populate(t *testing.T, mnt string) {
	p := func(name string) string { return filepath.Join(mnt, name) }
	rnd := rand.New(rand.NewSource(1))
	data := func(n int) []byte { b := make([]byte, n); rnd.Read(b); return b }
	require.NoError(t, os.Mkdir(p("dir"), 0o755))
	require.NoError(t, os.WriteFile(p("dir/inline.txt"), []byte("nineteen bytes ok!\n"), 0o644))
	require.NoError(t, os.WriteFile(p("dir/big.bin"), data(200<<10), 0o644))
	require.NoError(t, os.WriteFile(p("small.bin"), data(6000), 0o644))
	require.NoError(t, os.Symlink("dir/big.bin", p("link")))
	require.NoError(t, os.Link(p("dir/big.bin"), p("dir/big.hard")))
	require.NoError(t, syscall.Setxattr(p("small.bin"), "user.cowfs", []byte("golden"), 0))
	for i := range 20 {
		name := fmt.Sprintf("%03d%s", i, strings.Repeat("x", 247))
		require.NoError(t, os.Link(p("dir/inline.txt"), p("dir/"+name)))
	}
	reflink(t, p("dir/big.bin"), p("clone.bin"))
	for i := range 12 { // more refs than fit inline in a 4 KiB leaf
		reflink(t, p("small.bin"), p(fmt.Sprintf("dir/c%02d", i)))
	}
	out, err := exec.Command("btrfs", "subvolume", "create", p("sub")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(p("sub/f"), []byte("in a subvolume"), 0o644))
}

// reflink clones src into a new dst with the FICLONE ioctl.
func reflink(t *testing.T, src, dst string) {
	const ficlone = 0x40049409
	s, err := os.Open(src)
	require.NoError(t, err)
	defer s.Close()
	d, err := os.Create(dst)
	require.NoError(t, err)
	defer d.Close()
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, d.Fd(), ficlone, s.Fd())
	require.Zero(t, errno, "FICLONE %s → %s: %v", src, dst, errno)
}
