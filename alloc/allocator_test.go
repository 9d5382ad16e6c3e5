package alloc

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/disk/format"
)

const (
	kib    = 1 << 10
	gib    = 1 << 30
	mirror = 64 * mib // physical offset of the first superblock mirror
)

var testDevUUID = format.UUID{0xde, 0xad, 0xbe, 0xef}

// testChunk is a chunk of a test filesystem: a logical range on one stripe.
type testChunk struct {
	typ, logical, phys, length uint64
}

// newTestAlloc returns an allocator over chunks (each with its block
// group and dev extent) on a device of devTotal bytes. Check runs at
// cleanup.
func newTestAlloc(t *testing.T, devTotal uint64, nodesize uint32, chunks ...testChunk) *Allocator {
	t.Helper()
	cm := disk.NewChunkMap()
	a, err := New(Config{NodeSize: nodesize, SectorSize: 4096, DevID: 1, DevUUID: testDevUUID,
		DevTotal: devTotal, Chunks: cm})
	require.NoError(t, err)
	for _, c := range chunks {
		require.NoError(t, cm.Insert(c.logical, &format.ChunkItem{
			Length: c.length, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen, Type: c.typ,
			IOAlign: format.StripeLen, IOWidth: format.StripeLen, SectorSize: 4096, NumStripes: 1, SubStripes: 1,
			Stripes: []format.Stripe{{DevID: 1, Offset: c.phys, DevUUID: testDevUUID}},
		}))
		_, err := a.AddBlockGroup(c.logical, c.length, c.typ)
		require.NoError(t, err)
		a.AddDevExtent(c.phys, c.length)
	}
	t.Cleanup(func() { require.NoError(t, a.Check(), "accounting identity at cleanup") })
	return a
}

// mkfsChunks lays chunks out as mkfs/layout.go does: SYSTEM 4 MiB at 1 MiB,
// then METADATA and DATA of a tenth of the device each (at least 8 MiB,
// at most 256 MiB and 1 GiB), identity-mapped.
func mkfsChunks(devTotal uint64) []testChunk {
	tenth := devTotal / 10 / mib * mib
	meta := min(max(tenth, 8*mib), 256*mib)
	data := min(max(tenth, 8*mib), 1024*mib)
	return []testChunk{
		{format.BlockGroupSystem, 1 * mib, 1 * mib, 4 * mib},
		{format.BlockGroupMetadata, 5 * mib, 5 * mib, meta},
		{format.BlockGroupData, 5*mib + meta, 5*mib + meta, data},
	}
}

// newMkfsAlloc opens an allocator as the transaction does on a fresh mkfs
// image of devTotal bytes: block groups, dev extents, then the tree blocks
// mkfs wrote (the chunk tree's in SYSTEM, seven more packed at the start
// of METADATA) marked used and verified against the groups' used.
func newMkfsAlloc(t *testing.T, devTotal uint64, nodesize uint32) *Allocator {
	t.Helper()
	a := newTestAlloc(t, devTotal, nodesize, mkfsChunks(devTotal)...)
	ns := uint64(nodesize)
	require.NoError(t, a.MarkUsed(1*mib, ns))
	for i := range uint64(7) {
		require.NoError(t, a.MarkUsed(5*mib+i*ns, ns))
	}
	require.NoError(t, a.VerifyUsed(map[uint64]uint64{1 * mib: ns, 5 * mib: 7 * ns}))
	return a
}

func groupAt(t *testing.T, a *Allocator, start uint64) GroupInfo {
	t.Helper()
	for _, g := range a.Groups() {
		if g.Start == start {
			return g
		}
	}
	t.Fatalf("no block group at %d", start)
	return GroupInfo{}
}

func groupOf(t *testing.T, a *Allocator, at, length uint64) GroupInfo {
	t.Helper()
	for _, g := range a.Groups() {
		if at >= g.Start && at+length <= g.Start+g.Length {
			return g
		}
	}
	t.Fatalf("[%d, +%d) is in no block group", at, length)
	return GroupInfo{}
}

// requireTreeBlock checks the rules of a tree block at: nodesize-aligned,
// inside one 64 KiB stripe, in a SYSTEM or METADATA group as asked, and
// physically clear of every superblock copy's 64 KiB stripe.
func requireTreeBlock(t *testing.T, a *Allocator, at uint64, system bool) {
	t.Helper()
	ns := a.NodeSize()
	require.Zero(t, at%ns, "tree block %d not nodesize-aligned", at)
	require.Equal(t, at/format.StripeLen, (at+ns-1)/format.StripeLen, "tree block %d crosses a 64 KiB boundary", at)
	want := format.BlockGroupMetadata
	if system {
		want = format.BlockGroupSystem
	}
	require.Equal(t, want, groupOf(t, a, at, ns).Flags&format.BlockGroupTypeMask, "tree block %d: group type", at)
	phys, err := a.cfg.Chunks.Physical(at, ns)
	require.NoError(t, err)
	for i := range format.SuperMirrorMax {
		s := uint64(format.MirrorOffset(i)) / format.StripeLen * format.StripeLen
		require.False(t, uint64(phys) < s+format.StripeLen && s < uint64(phys)+ns,
			"tree block %d (physical %d) in the superblock stripe at %d", at, phys, s)
	}
}

// fillTree allocates tree blocks until ErrNoSpace, checking each.
func fillTree(t *testing.T, a *Allocator, system bool) []uint64 {
	t.Helper()
	var out []uint64
	for {
		at, err := a.AllocTree(system)
		if err != nil {
			require.ErrorIs(t, err, ErrNoSpace)
			require.ErrorIs(t, err, syscall.ENOSPC)
			return out
		}
		requireTreeBlock(t, a, at, system)
		out = append(out, at)
	}
}

func requireDisjoint(t *testing.T, ns uint64, blocks []uint64) {
	t.Helper()
	s := slices.Clone(blocks)
	slices.Sort(s)
	for i := 1; i < len(s); i++ {
		require.GreaterOrEqual(t, s[i], s[i-1]+ns, "blocks %d and %d overlap", s[i-1], s[i])
	}
}

func TestNewValidates(t *testing.T) {
	cm := disk.NewChunkMap()
	for _, c := range []struct{ ns, ss uint32 }{{0, 4096}, {16384, 0}, {12288, 4096}, {16384, 3000},
		{2048, 4096}, {128 * kib, 4096}} {
		_, err := New(Config{NodeSize: c.ns, SectorSize: c.ss, Chunks: cm})
		require.Error(t, err, "nodesize %d sectorsize %d", c.ns, c.ss)
	}
	_, err := New(Config{NodeSize: 16384, SectorSize: 4096})
	require.Error(t, err, "no chunk map")
	_, err = New(Config{NodeSize: 64 * kib, SectorSize: 4096, Chunks: cm})
	require.NoError(t, err)
}

func TestAllocTreeBlocks(t *testing.T) {
	for _, ns := range []uint32{4096, 16384, 65536} {
		t.Run(fmt.Sprint(ns), func(t *testing.T) {
			a := newMkfsAlloc(t, 256*mib, ns)
			// A second METADATA group at 55 MiB, over the mirror at 64 MiB.
			g, err := a.NewChunk(format.BlockGroupMetadata)
			require.NoError(t, err)
			require.EqualValues(t, 55*mib, g.Start)
			require.EqualValues(t, format.StripeLen, g.Super, "the 64 MiB mirror's stripe")
			require.NoError(t, a.Check())
			var free uint64
			for _, g := range a.Groups() {
				if g.Flags == format.BlockGroupMetadata {
					free += g.Free
				}
			}
			sysBefore := groupAt(t, a, 1*mib)

			blocks := fillTree(t, a, false)
			require.EqualValues(t, free/uint64(ns), len(blocks), "every free node of METADATA, none elsewhere")
			requireDisjoint(t, uint64(ns), blocks)
			require.Contains(t, blocks, uint64(5*mib+7*uint64(ns)), "the first free node after mkfs's")
			require.Contains(t, blocks, uint64(mirror+format.StripeLen), "right after the mirror's stripe")
			require.Equal(t, sysBefore, groupAt(t, a, 1*mib), "METADATA allocations leave SYSTEM alone")
			for _, g := range a.Groups() {
				if g.Flags == format.BlockGroupMetadata {
					require.Zero(t, g.Free)
				}
			}
			require.NoError(t, a.Check())

			sys := fillTree(t, a, true)
			require.EqualValues(t, (4*mib-uint64(ns))/uint64(ns), len(sys))
			requireDisjoint(t, uint64(ns), sys)
			require.EqualValues(t, len(blocks)+len(sys), a.Stats().Allocs)
			require.EqualValues(t, 2, a.Stats().AllocFailures)
		})
	}
}

// TestAllocTreeFragmented marks random sector-sized extents used in a
// METADATA chunk that is not MiB-aligned (logical 16 MiB + 64 KiB,
// physical over the 64 MiB mirror), then takes every tree block left:
// each must obey the rules, and no place that could hold one is left.
func TestAllocTreeFragmented(t *testing.T) {
	rng := rand.New(rand.NewPCG(allocSeed(t), 2))
	const ns = 16384
	start := uint64(16*mib + 64*kib)
	a := newTestAlloc(t, 256*mib, ns,
		testChunk{format.BlockGroupMetadata, start, 60 * mib, 8 * mib})
	for range 400 {
		at := start + uint64(rng.IntN(8*mib/4096))*4096
		_ = a.MarkUsed(at, uint64(1+rng.IntN(3))*4096) // some refused: overlap, super stripe, group end
	}
	require.NoError(t, a.Check())
	blocks := fillTree(t, a, false)
	requireDisjoint(t, ns, blocks)
	require.NotEmpty(t, blocks)
	// Nothing left that a tree block could use.
	a.mu.Lock()
	g := a.mu.groups[0]
	_, ok := g.free.find(g.Start, ns, g.Start, ns, format.StripeLen)
	a.mu.Unlock()
	require.False(t, ok)
}

func TestAllocData(t *testing.T) {
	rng := rand.New(rand.NewPCG(allocSeed(t), 3))
	a := newMkfsAlloc(t, 256*mib, 16384)
	dataStart := uint64(30 * mib)
	_, err := a.AllocData(0)
	require.ErrorIs(t, err, ErrAccounting)
	_, err = a.AllocData(1000)
	require.ErrorIs(t, err, ErrAccounting)
	require.False(t, errors.Is(err, syscall.ENOSPC), "a bad length is no ENOSPC")

	var got []Range
	var total uint64
	for {
		n := uint64(1+rng.IntN(40)) * 4096
		at, err := a.AllocData(n)
		if err != nil {
			require.ErrorIs(t, err, ErrNoSpace)
			require.ErrorIs(t, err, syscall.ENOSPC)
			require.Less(t, groupAt(t, a, dataStart).Free, n)
			break
		}
		require.Zero(t, at%4096, "data extent %d not sector-aligned", at)
		require.Equal(t, format.BlockGroupData, groupOf(t, a, at, n).Flags)
		got = append(got, Range{at, n})
		total += n
	}
	slices.SortFunc(got, func(x, y Range) int { return cmpU64(x.Start, y.Start) })
	for i := 1; i < len(got); i++ {
		require.LessOrEqual(t, got[i-1].End(), got[i].Start, "%v and %v overlap", got[i-1], got[i])
	}
	g := groupAt(t, a, dataStart)
	require.Equal(t, total, g.Reserved)
	require.EqualValues(t, 1, a.Stats().AllocFailures)
	// Metadata is untouched by data allocations.
	require.EqualValues(t, 25*mib-7*16384, groupAt(t, a, 5*mib).Free)
}

// lifeCase is one path through the life of an extent.
type lifeCase struct {
	name  string
	steps func(t *testing.T, a *Allocator, at, n uint64)
}

func TestExtentLife(t *testing.T) {
	const ns = 16384
	requireCounters := func(t *testing.T, a *Allocator, used, reserved, pinned uint64, step string) {
		t.Helper()
		require.NoError(t, a.Check(), step)
		g := groupAt(t, a, 5*mib)
		require.Equal(t, []uint64{used, reserved, pinned}, []uint64{g.Used, g.Reserved, g.Pinned},
			"%s: used, reserved, pinned", step)
		require.Equal(t, 25*mib-used-reserved-pinned, g.Free, step)
	}
	base := uint64(7 * ns) // mkfs's blocks
	// mustStayPinned fills METADATA and checks at is never handed out,
	// then gives all of it back.
	mustStayPinned := func(t *testing.T, a *Allocator, at uint64) {
		t.Helper()
		blocks := fillTree(t, a, false)
		require.NotContains(t, blocks, at, "pinned block handed out")
		for _, b := range blocks {
			require.NoError(t, a.Unreserve(b, ns))
		}
	}
	for _, c := range []lifeCase{
		{"used then pinned", func(t *testing.T, a *Allocator, at, n uint64) {
			require.NoError(t, a.ReservedToUsed(at, n))
			requireCounters(t, a, base+n, 0, 0, "ReservedToUsed")
			dirty := a.DirtyGroups()
			require.Len(t, dirty, 1)
			require.EqualValues(t, 5*mib, dirty[0].Start)
			require.Empty(t, a.DirtyGroups(), "the mark is cleared")
			require.NoError(t, a.UsedToPinned(at, n))
			requireCounters(t, a, base, 0, n, "UsedToPinned")
			require.Equal(t, n, a.PinnedBytes())
			require.Len(t, a.DirtyGroups(), 1)
			mustStayPinned(t, a, at)
		}},
		{"unreserved", func(t *testing.T, a *Allocator, at, n uint64) {
			require.NoError(t, a.Unreserve(at, n))
			requireCounters(t, a, base, 0, 0, "Unreserve")
			require.Zero(t, a.PinnedBytes())
			require.Empty(t, a.DirtyGroups(), "used did not change")
			blocks := fillTree(t, a, false)
			require.Contains(t, blocks, at, "free again at once")
			for _, b := range blocks {
				require.NoError(t, a.Unreserve(b, ns))
			}
		}},
		{"reserved then pinned", func(t *testing.T, a *Allocator, at, n uint64) {
			require.NoError(t, a.PinReserved(at, n))
			requireCounters(t, a, base, 0, n, "PinReserved")
			require.Equal(t, n, a.PinnedBytes())
			require.Empty(t, a.DirtyGroups(), "used did not change")
			mustStayPinned(t, a, at)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newMkfsAlloc(t, 256*mib, ns)
			requireCounters(t, a, base, 0, 0, "open")
			at, err := a.AllocTree(false)
			require.NoError(t, err)
			require.EqualValues(t, 5*mib+base, at)
			requireCounters(t, a, base, ns, 0, "AllocTree")
			c.steps(t, a, at, ns)
			require.NoError(t, a.Unpin())
			requireCounters(t, a, base, 0, 0, "Unpin")
			require.Zero(t, a.PinnedBytes())
			require.NoError(t, a.Unpin(), "nothing left to unpin")
			requireCounters(t, a, base, 0, 0, "second Unpin")
			blocks := fillTree(t, a, false)
			require.Contains(t, blocks, at, "free after Unpin")
		})
	}
}

func TestExtentLifeRefused(t *testing.T) {
	const ns = 16384
	a := newMkfsAlloc(t, 256*mib, ns)
	at, err := a.AllocTree(false)
	require.NoError(t, err)
	before := a.Groups()
	used := uint64(5 * mib) // mkfs's first block: used, not reserved
	for name, err := range map[string]error{
		"ReservedToUsed of more than reserved":  a.ReservedToUsed(at, 2*ns),
		"PinReserved of more than reserved":     a.PinReserved(at, 2*ns),
		"Unreserve of more than reserved":       a.Unreserve(at, 2*ns),
		"UsedToPinned beyond used":              a.UsedToPinned(used, 8*ns),
		"outside every group":                   a.UsedToPinned(500*mib, ns),
		"across two groups":                     a.ReservedToUsed(30*mib-ns/2, ns),
		"Unreserve of free space (double free)": a.Unreserve(at+ns, ns),
	} {
		require.ErrorIs(t, err, ErrAccounting, name)
		require.Equal(t, before, a.Groups(), "%s changed the counters", name)
	}
	require.Zero(t, a.PinnedBytes())

	// A pinned extent freed behind Unpin's back: Unpin fails, and keeps
	// the extent pinned so that no later call frees it twice.
	require.NoError(t, a.PinReserved(at, ns))
	require.NoError(t, a.UsedToPinned(used, ns))
	a.mu.Lock()
	g := a.mu.groups[1]
	require.NoError(t, g.free.add(Range{used, ns})) // the bug being simulated
	g.Pinned -= ns
	a.mu.Unlock()
	err = a.Unpin()
	require.ErrorIs(t, err, ErrAccounting)
	require.Equal(t, uint64(ns), a.PinnedBytes(), "the failing extent stays pinned, the one before it is free")
	require.Zero(t, groupAt(t, a, 5*mib).Pinned)
	require.ErrorIs(t, a.Unpin(), ErrAccounting, "still failing, and not freeing the first one twice")
	require.Equal(t, uint64(ns), a.PinnedBytes())
	a.mu.Lock()
	a.mu.pinned = nil // undo the simulated bug for the cleanup Check
	a.mu.Unlock()
}

func TestAllocNoSpace(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, 16384)
	at, err := a.AllocData(25 * mib)
	require.NoError(t, err)
	require.EqualValues(t, 30*mib, at)
	_, err = a.AllocData(4096)
	require.ErrorIs(t, err, ErrNoSpace)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, a.Unreserve(at, 25*mib))
	_, err = a.AllocData(25*mib + 4096)
	require.ErrorIs(t, err, syscall.ENOSPC, "larger than any group")
	require.EqualValues(t, 2, a.Stats().AllocFailures)
}

func TestMarkUsedAndVerify(t *testing.T) {
	const ns = 16384
	a := newMkfsAlloc(t, 256*mib, ns)
	before := a.Groups()
	for name, r := range map[string]Range{
		"overlapping an extent":   {5*mib + ns, ns},
		"outside every group":     {0, ns},
		"across two groups":       {30*mib - 4096, 8192},
		"past the last group end": {55 * mib, ns},
	} {
		require.ErrorIs(t, a.MarkUsed(r.Start, r.Len), ErrAccounting, name)
	}
	require.Equal(t, before, a.Groups())

	// Over a superblock copy: a METADATA chunk identity-mapped over 64 MiB.
	b := newTestAlloc(t, 256*mib, ns, testChunk{format.BlockGroupMetadata, 60 * mib, 60 * mib, 8 * mib})
	require.EqualValues(t, format.StripeLen, groupAt(t, b, 60*mib).Super)
	require.ErrorIs(t, b.MarkUsed(mirror+ns, ns), ErrAccounting)
	require.NoError(t, b.MarkUsed(mirror+format.StripeLen, ns))
	require.NoError(t, b.MarkUsed(mirror-ns, ns))

	err := a.VerifyUsed(map[uint64]uint64{1 * mib: ns, 5 * mib: 6 * ns})
	require.ErrorIs(t, err, ErrAccounting)
	require.Contains(t, err.Error(), "used 98304, extent items sum to 114688")
	require.ErrorIs(t, a.VerifyUsed(map[uint64]uint64{5 * mib: 7 * ns}), ErrAccounting, "SYSTEM's item missing")
	require.NoError(t, a.VerifyUsed(map[uint64]uint64{1 * mib: ns, 5 * mib: 7 * ns}))
}

func TestAddBlockGroupRefused(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, 16384)
	before := a.Groups()
	_, err := a.AddBlockGroup(100*mib, 8*mib, format.BlockGroupData)
	require.ErrorIs(t, err, ErrAccounting, "no chunk")
	_, err = a.AddBlockGroup(5*mib, 8*mib, format.BlockGroupMetadata)
	require.ErrorIs(t, err, ErrAccounting, "length differs from the chunk's")
	_, err = a.AddBlockGroup(5*mib, 25*mib, format.BlockGroupMetadata)
	require.ErrorIs(t, err, ErrAccounting, "already there")
	require.Equal(t, before, a.Groups())
}

func TestSuperStripesNotIdentityMapped(t *testing.T) {
	const ns = 16384
	// Logical 1 GiB, physical 63 MiB: the mirror is 1 MiB into the chunk.
	a := newTestAlloc(t, 256*mib, ns, testChunk{format.BlockGroupMetadata, gib, 63 * mib, 4 * mib})
	g := groupAt(t, a, gib)
	require.EqualValues(t, format.StripeLen, g.Super)
	require.ErrorIs(t, a.MarkUsed(gib+mib, ns), ErrAccounting)
	blocks := fillTree(t, a, false)
	require.EqualValues(t, (4*mib-format.StripeLen)/ns, len(blocks))
	require.NotContains(t, blocks, uint64(gib+mib))

	// The third copy, at 256 GiB.
	b := newTestAlloc(t, 300*gib, ns, testChunk{format.BlockGroupData, 256 * gib, 256 * gib, 8 * mib})
	require.EqualValues(t, format.StripeLen, groupAt(t, b, 256*gib).Super)
}

func TestNewChunk(t *testing.T) {
	const ns = 16384
	a := newMkfsAlloc(t, 256*mib, ns)
	require.EqualValues(t, 54*mib, a.DevBytesUsed())
	require.EqualValues(t, 256*mib-mib-54*mib, a.UnallocatedBytes())
	require.Empty(t, a.TakePending())

	// Fill DATA, then add a chunk: the first hole is right after the dev
	// extents, the logical start right after every chunk.
	full, err := a.AllocData(25 * mib)
	require.NoError(t, err)
	_, err = a.AllocData(4096)
	require.ErrorIs(t, err, ErrNoSpace)
	g, err := a.NewChunk(format.BlockGroupData)
	require.NoError(t, err)
	require.EqualValues(t, 55*mib, g.Start)
	require.EqualValues(t, 25*mib, g.Length, "a tenth of 256 MiB, rounded down to a MiB")
	require.EqualValues(t, format.StripeLen, g.Super, "over the mirror at 64 MiB")
	require.Equal(t, &format.ChunkItem{
		Length: 25 * mib, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen,
		Type: format.BlockGroupData, IOAlign: format.StripeLen, IOWidth: format.StripeLen,
		SectorSize: 4096, NumStripes: 1, SubStripes: 1,
		Stripes: []format.Stripe{{DevID: 1, Offset: 55 * mib, DevUUID: testDevUUID}},
	}, g.Chunk)
	c, ok := a.Chunk(55 * mib)
	require.True(t, ok)
	require.Same(t, g.Chunk, c)
	_, ok = a.Chunk(55*mib + 4096)
	require.False(t, ok, "Chunk wants a group's start")
	phys, err := a.cfg.Chunks.Physical(60*mib, 4096)
	require.NoError(t, err)
	require.EqualValues(t, 60*mib, phys, "in the chunk map at once")
	require.EqualValues(t, 79*mib, a.DevBytesUsed())
	require.EqualValues(t, 256*mib-mib-79*mib, a.UnallocatedBytes())
	require.EqualValues(t, 1, a.Stats().Chunks)

	// Usable at once.
	at, err := a.AllocData(8 * mib)
	require.NoError(t, err)
	require.EqualValues(t, 55*mib, at)
	require.NoError(t, a.ReservedToUsed(at, 8*mib))
	require.NoError(t, a.ReservedToUsed(full, 25*mib))
	dirty := a.DirtyGroups()
	require.Len(t, dirty, 1, "a pending group is never dirty: its item is not there yet")
	require.EqualValues(t, 30*mib, dirty[0].Start)

	pending := a.TakePending()
	require.Len(t, pending, 1)
	require.Equal(t, GroupInfo{Start: 55 * mib, Length: 25 * mib, Flags: format.BlockGroupData,
		Used: 8 * mib, Super: format.StripeLen, Free: 17*mib - format.StripeLen, Pending: true}, pending[0])
	require.Empty(t, a.TakePending(), "once only")
	require.Empty(t, a.DirtyGroups(), "TakePending wrote its used")
	require.NoError(t, a.UsedToPinned(at, 4096))
	dirty = a.DirtyGroups()
	require.Len(t, dirty, 1, "no longer pending: dirty as any group")
	require.EqualValues(t, 55*mib, dirty[0].Start)

	// A METADATA chunk after it, in both spaces.
	m, err := a.NewChunk(format.BlockGroupMetadata)
	require.NoError(t, err)
	require.EqualValues(t, 80*mib, m.Start)
	require.EqualValues(t, 80*mib, m.Chunk.Stripes[0].Offset)
	require.Zero(t, m.Super)
	at, err = a.AllocTree(false)
	require.NoError(t, err)
	requireTreeBlock(t, a, at, false)
	sys, err := a.NewChunk(format.BlockGroupSystem)
	require.NoError(t, err)
	require.EqualValues(t, 105*mib, sys.Start)
	require.EqualValues(t, 25*mib, sys.Length)
	require.Len(t, a.TakePending(), 2)
}

// TestNewChunkUntilFull adds chunks until the device has no MiB left.
func TestNewChunkUntilFull(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, 16384)
	var lengths []uint64
	for {
		g, err := a.NewChunk(format.BlockGroupData)
		if err != nil {
			require.ErrorIs(t, err, ErrNoSpace)
			require.ErrorIs(t, err, syscall.ENOSPC)
			break
		}
		lengths = append(lengths, g.Length)
		require.Equal(t, g.Start, g.Chunk.Stripes[0].Offset, "identity-mapped as long as mkfs's chunks are")
	}
	// 201 MiB unallocated: eight chunks of 25 MiB, then the last MiB.
	require.Equal(t, []uint64{25 * mib, 25 * mib, 25 * mib, 25 * mib, 25 * mib, 25 * mib, 25 * mib, 25 * mib, mib}, lengths)
	require.EqualValues(t, 255*mib, a.DevBytesUsed())
	require.Zero(t, a.UnallocatedBytes())
	require.Len(t, a.TakePending(), 9)
	requireDevExtents(t, a)
	require.EqualValues(t, 9, a.Stats().Chunks)
}

// requireDevExtents checks that dev extents are disjoint and on the device.
func requireDevExtents(t *testing.T, a *Allocator) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, r := range a.mu.devUsed {
		require.GreaterOrEqual(t, r.Start, uint64(format.ReservedBytes))
		require.LessOrEqual(t, r.End(), a.cfg.DevTotal)
		if i > 0 {
			require.LessOrEqual(t, a.mu.devUsed[i-1].End(), r.Start, "dev extents %v and %v overlap", a.mu.devUsed[i-1], r)
		}
	}
}

func TestNewChunkHoles(t *testing.T) {
	// Holes [5, 20), [30, 40) and [50.5→51, 60) MiB on a 60 MiB device;
	// chunks of 6 MiB; the DATA chunk logically at 1 GiB, 10.5 MiB long.
	a := newTestAlloc(t, 60*mib, 16384,
		testChunk{format.BlockGroupSystem, 1 * mib, 1 * mib, 4 * mib},
		testChunk{format.BlockGroupMetadata, 20 * mib, 20 * mib, 10 * mib},
		testChunk{format.BlockGroupData, gib, 40 * mib, 10*mib + 512*kib},
	)
	require.EqualValues(t, 6*mib, a.chunkSize(format.BlockGroupData))
	type placed struct{ phys, length uint64 }
	var got []placed
	logical := uint64(gib + 11*mib)
	for {
		g, err := a.NewChunk(format.BlockGroupMetadata)
		if err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			break
		}
		got = append(got, placed{g.Chunk.Stripes[0].Offset, g.Length})
		require.Equal(t, logical, g.Start, "after every chunk, MiB-aligned")
		logical += g.Length
		requireDevExtents(t, a)
	}
	require.Equal(t, []placed{
		{5 * mib, 6 * mib},  // the first hole that fits
		{11 * mib, 6 * mib}, // what is left of it
		{30 * mib, 6 * mib}, // [17, 20) is too small: the next
		{51 * mib, 6 * mib}, // past the half MiB after DATA
		{36 * mib, 4 * mib}, // nothing fits: the largest (and first) of 3, 4 and 3 MiB
		{17 * mib, 3 * mib},
		{57 * mib, 3 * mib},
	}, got)
	require.EqualValues(t, 59*mib-512*kib, a.DevBytesUsed())
	require.EqualValues(t, 512*kib, a.UnallocatedBytes(), "the half MiB after DATA, too small for a chunk")
}

func TestChunkSize(t *testing.T) {
	for _, c := range []struct {
		dev, data, meta, sys uint64
	}{
		{5 * mib, mib, mib, mib},
		{256 * mib, 25 * mib, 25 * mib, 25 * mib},
		{1536 * mib, 153 * mib, 153 * mib, 32 * mib},
		{4 * gib, 409 * mib, 256 * mib, 32 * mib},
		{20 * gib, gib, 256 * mib, 32 * mib},
	} {
		a, err := New(Config{NodeSize: 16384, SectorSize: 4096, DevTotal: c.dev, Chunks: disk.NewChunkMap()})
		require.NoError(t, err)
		require.Equal(t, []uint64{c.data, c.meta, c.sys}, []uint64{a.chunkSize(format.BlockGroupData),
			a.chunkSize(format.BlockGroupMetadata), a.chunkSize(format.BlockGroupSystem)}, "device of %d", c.dev)
		for typ, want := range map[uint64]uint64{format.BlockGroupData: c.data,
			format.BlockGroupMetadata: c.meta, format.BlockGroupSystem: c.sys} {
			g, err := a.NewChunk(typ)
			require.NoError(t, err)
			require.Equal(t, want, g.Length, "%s chunk on a device of %d", typeName(typ), c.dev)
		}
		require.NoError(t, a.Check())
	}
}

// TestConcurrent allocates and frees from many goroutines, adding chunks
// when full, while another reads the counters; run it under -race. A
// registry of 4 KiB units proves that no byte is ever handed out twice,
// pinned bytes included.
func TestConcurrent(t *testing.T) {
	seed := allocSeed(t)
	const ns = 16384
	a := newMkfsAlloc(t, 256*mib, ns)
	var reg struct {
		sync.Mutex
		owner  map[uint64]int // 4 KiB unit → goroutine+1
		pinned []Range
		rng    *rand.Rand // when to commit
	}
	reg.owner = map[uint64]int{}
	reg.rng = rand.New(rand.NewPCG(seed, 1000))
	claim := func(id int, r Range) error {
		reg.Lock()
		defer reg.Unlock()
		for u := r.Start; u < r.End(); u += 4096 {
			if o := reg.owner[u]; o != 0 {
				return fmt.Errorf("goroutine %d got %v, byte %d already held by %d", id, r, u, o-1)
			}
			reg.owner[u] = id + 1
		}
		return nil
	}
	release := func(r Range) {
		for u := r.Start; u < r.End(); u += 4096 {
			delete(reg.owner, u)
		}
	}
	const workers, ops = 8, 1500
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	stop := make(chan struct{})
	for id := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- concurrentWorker(a, id, rand.New(rand.NewPCG(seed, uint64(id))), ops, claim, func(r Range, how int) error {
				reg.Lock()
				defer reg.Unlock()
				var err error
				switch how {
				case 0:
					release(r)
					err = a.Unreserve(r.Start, r.Len)
				case 1:
					err = a.PinReserved(r.Start, r.Len)
					reg.pinned = append(reg.pinned, r)
				default:
					if err = a.ReservedToUsed(r.Start, r.Len); err == nil {
						err = a.UsedToPinned(r.Start, r.Len)
					}
					reg.pinned = append(reg.pinned, r)
				}
				if reg.rng.IntN(20) == 0 { // a commit
					if err == nil {
						err = a.Unpin()
					}
					for _, p := range reg.pinned {
						release(p)
					}
					reg.pinned = reg.pinned[:0]
				}
				return err
			})
		}()
	}
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		rsv := a.NewRsv("trans_block_rsv", format.BlockGroupMetadata)
		for {
			if rsv.Fill(mib) > 0 {
				_ = rsv.Use(ns)
			}
			_ = rsv.Add(64 * kib)
			rsv.Release()
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			if err := a.Check(); err != nil {
				errs <- err
				return
			}
			_ = a.Groups()
			_ = a.Space(format.BlockGroupMetadata)
			_ = a.DevBytesUsed()
			_ = a.UnallocatedBytes()
			_ = a.PinnedBytes()
			a.Dump(io.Discard)
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, a.Unpin())
	require.NoError(t, a.Check())
	require.Zero(t, mayUse(a, format.BlockGroupMetadata), "every reserve released")
	for _, g := range a.Groups() {
		require.Zero(t, g.Reserved+g.Pinned, "%+v", g)
		require.Equal(t, g.Length-g.Super-g.Used, g.Free, "%+v", g)
	}
	require.NoError(t, a.VerifyUsed(map[uint64]uint64{1 * mib: ns, 5 * mib: 7 * ns}))
	t.Logf("stats %+v, %d groups", a.Stats(), len(a.Groups()))
}

// concurrentWorker allocates tree blocks and data extents and frees them
// (free: 0 unreserve, 1 pin reserved, 2 through used to pinned), adding a
// chunk whenever a type is full, and frees whatever it holds at the end.
func concurrentWorker(a *Allocator, id int, rng *rand.Rand, ops int,
	claim func(int, Range) error, free func(Range, int) error) error {
	var held []Range
	for range ops {
		if len(held) > 0 && (rng.IntN(2) == 0 || len(held) > 64) {
			i := rng.IntN(len(held))
			r := held[i]
			held = slices.Delete(held, i, i+1)
			if err := free(r, rng.IntN(3)); err != nil {
				return err
			}
			continue
		}
		var r Range
		var err error
		switch typ := rng.IntN(3); typ {
		case 0:
			r.Len = a.NodeSize()
			r.Start, err = a.AllocTree(false)
			if errors.Is(err, ErrNoSpace) {
				if _, err := a.NewChunk(format.BlockGroupMetadata); err != nil && !errors.Is(err, ErrNoSpace) {
					return err
				}
				continue
			}
		default:
			r.Len = uint64(1+rng.IntN(512)) * 4096
			r.Start, err = a.AllocData(r.Len)
			if errors.Is(err, ErrNoSpace) {
				if _, err := a.NewChunk(format.BlockGroupData); err != nil && !errors.Is(err, ErrNoSpace) {
					return err
				}
				continue
			}
		}
		if err != nil {
			return err
		}
		if err := claim(id, r); err != nil {
			return err
		}
		held = append(held, r)
	}
	for _, r := range held {
		if err := free(r, 0); err != nil {
			return err
		}
	}
	return nil
}

// TestSetFree: a group given its free ranges by a free-space tree has the
// same counters as one given the complementary extents by MarkUsed, with
// its superblock stripe out whether listed or not; bad lists change nothing.
func TestSetFree(t *testing.T) {
	const ns = 16384
	meta := testChunk{format.BlockGroupMetadata, 60 * mib, 60 * mib, 8 * mib}
	byExtents := newTestAlloc(t, 256*mib, ns, meta)
	require.NoError(t, byExtents.MarkUsed(60*mib, ns))
	require.NoError(t, byExtents.MarkUsed(61*mib, 2*ns))
	for _, listed := range [][]Range{
		{{60*mib + ns, mib - ns}, {61*mib + 2*ns, 7*mib - 2*ns}},                                                        // the stripe listed
		{{60*mib + ns, mib - ns}, {61*mib + 2*ns, 3*mib - 2*ns}, {mirror + format.StripeLen, 4*mib - format.StripeLen}}, // left out
	} {
		byTree := newTestAlloc(t, 256*mib, ns, meta)
		require.NoError(t, byTree.SetFree(60*mib, listed))
		require.Equal(t, byExtents.Groups(), byTree.Groups())
	}
	bad := newTestAlloc(t, 256*mib, ns, meta)
	before := bad.Groups()
	for name, listed := range map[string][]Range{
		"outside the group": {{68 * mib, ns}},
		"listed twice":      {{60 * mib, 2 * ns}, {60*mib + ns, ns}},
	} {
		require.ErrorIs(t, bad.SetFree(60*mib, listed), ErrAccounting, name)
	}
	require.ErrorIs(t, bad.SetFree(61*mib, nil), ErrAccounting, "no group starts there")
	require.Equal(t, before, bad.Groups())
}
