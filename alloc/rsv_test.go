package alloc

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

// On a fresh 256 MiB mkfs image with 16 KiB nodes (newMkfsAlloc): 201 MiB
// unallocated, and in each space info total − used − readonly:
const (
	rsvNS          = 16384
	unalloc256     = 201 * mib
	metaFree256    = 25*mib - 7*rsvNS // 26099712
	dataFree256    = 25 * mib
	sysFree256     = 4*mib - rsvNS
	metaAvail256   = metaFree256 + unalloc256/2 // overcommit: half the unallocated space
	dataAvail256   = dataFree256 + unalloc256   // data: all of it
	systemAvail256 = sysFree256 + unalloc256/2
)

func requireRsv(t *testing.T, r *BlockRsv, size, reserved uint64, msg string) {
	t.Helper()
	s, res := r.Info()
	require.Equal(t, []uint64{size, reserved}, []uint64{s, res}, "%s: %s size, reserved", msg, r.Name)
}

func mayUse(a *Allocator, typ uint64) uint64 { return a.Space(typ).MayUse }

func TestRsvAddWithinFree(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	r := a.NewRsv("trans_block_rsv", format.BlockGroupMetadata)
	requireRsv(t, r, 0, 0, "new")
	require.NoError(t, r.Add(mib))
	require.NoError(t, r.Add(rsvNS))
	requireRsv(t, r, mib+rsvNS, mib+rsvNS, "after Add")
	si := a.Space(format.BlockGroupMetadata)
	require.Equal(t, SpaceInfo{Flags: format.BlockGroupMetadata, Total: 25 * mib, Used: 7 * rsvNS,
		MayUse: mib + rsvNS}, si)
	require.EqualValues(t, metaFree256-mib-rsvNS, si.Free())
	require.Zero(t, mayUse(a, format.BlockGroupData), "may_use is per type")
	require.Zero(t, a.Stats().RsvFailures)
}

func TestRsvOvercommit(t *testing.T) {
	for _, c := range []struct {
		typ, avail uint64
	}{
		{format.BlockGroupMetadata, metaAvail256},
		{format.BlockGroupData, dataAvail256},
		{format.BlockGroupSystem, systemAvail256},
	} {
		t.Run(typeName(c.typ), func(t *testing.T) {
			a := newMkfsAlloc(t, 256*mib, rsvNS)
			require.EqualValues(t, unalloc256, a.UnallocatedBytes())
			r := a.NewRsv("r", c.typ)
			other := a.NewRsv("other", c.typ)
			require.NoError(t, other.Add(4096))

			err := r.Add(c.avail - 4096 + 1)
			require.ErrorIs(t, err, ErrNoSpace)
			require.ErrorIs(t, err, syscall.ENOSPC)
			requireRsv(t, r, 0, 0, "refused")
			require.EqualValues(t, 4096, mayUse(a, c.typ), "refused: may_use unchanged")
			require.EqualValues(t, 1, a.Stats().RsvFailures)

			require.NoError(t, r.Add(c.avail-4096), "exactly what the overcommit allows")
			requireRsv(t, r, c.avail-4096, c.avail-4096, "at the limit")
			require.Equal(t, c.avail, mayUse(a, c.typ))
			require.Zero(t, a.Space(c.typ).Free(), "overcommitted: 0, not negative")
			require.ErrorIs(t, r.Add(1), syscall.ENOSPC)
			require.ErrorIs(t, other.Add(4096), syscall.ENOSPC)
			requireRsv(t, r, c.avail-4096, c.avail-4096, "refused")
			require.EqualValues(t, 3, a.Stats().RsvFailures)
			require.Zero(t, r.Fill(1<<40), "Fill finds nothing left")

			// Everything busy counts against the limit: reserved and pinned
			// extents as much as may_use.
			r.Release()
			var at uint64
			var err2 error
			if c.typ == format.BlockGroupData {
				at, err2 = a.AllocData(mib)
			} else {
				at, err2 = a.AllocTree(c.typ == format.BlockGroupSystem)
			}
			require.NoError(t, err2)
			n := a.NodeSize()
			if c.typ == format.BlockGroupData {
				n = mib
			}
			require.ErrorIs(t, r.Add(c.avail-4096-n+1), syscall.ENOSPC)
			require.NoError(t, a.PinReserved(at, n))
			require.ErrorIs(t, r.Add(c.avail-4096-n+1), syscall.ENOSPC)
			require.NoError(t, r.Add(c.avail-4096-n))
		})
	}
}

// TestRsvOvercommitFollowsChunks: a new chunk moves space from the
// unallocated pool (counted half for metadata) into the space info.
func TestRsvOvercommitFollowsChunks(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	r := a.NewRsv("r", format.BlockGroupMetadata)
	_, err := a.NewChunk(format.BlockGroupMetadata) // [55, 80) MiB, over the 64 MiB mirror
	require.NoError(t, err)
	want := uint64(metaAvail256 + 25*mib - format.StripeLen - 25*mib/2)
	require.ErrorIs(t, r.Add(want+1), syscall.ENOSPC)
	require.NoError(t, r.Add(want))
	// A DATA chunk takes unallocated space from metadata's overcommit.
	r.Release()
	_, err = a.NewChunk(format.BlockGroupData)
	require.NoError(t, err)
	require.ErrorIs(t, r.Add(want-25*mib/2+1), syscall.ENOSPC)
	require.NoError(t, r.Add(want-25*mib/2))
}

func TestRsvUse(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	r := a.NewRsv("trans_block_rsv", format.BlockGroupMetadata)
	require.NoError(t, r.Add(100*kib))
	require.NoError(t, r.Use(30*kib))
	requireRsv(t, r, 100*kib, 70*kib, "Use keeps the size")
	require.EqualValues(t, 70*kib, mayUse(a, format.BlockGroupMetadata))

	err := r.Use(70*kib + 1)
	require.ErrorIs(t, err, ErrRsvExhausted)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.False(t, errors.Is(err, ErrNoSpace), "exhausted is not out of space")
	require.Contains(t, err.Error(), "trans_block_rsv: 71681 bytes wanted, 71680 left of 102400")
	requireRsv(t, r, 100*kib, 70*kib, "refused")
	require.EqualValues(t, 70*kib, mayUse(a, format.BlockGroupMetadata))

	require.NoError(t, r.Use(70*kib))
	requireRsv(t, r, 100*kib, 0, "dry")
	require.Zero(t, mayUse(a, format.BlockGroupMetadata))
	require.ErrorIs(t, r.Use(1), ErrRsvExhausted)
	require.NoError(t, r.Use(0))
}

func TestRsvMigrate(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	src := a.NewRsv("trans_block_rsv", format.BlockGroupMetadata)
	dst := a.NewRsv("delayed_block_rsv", format.BlockGroupMetadata)
	require.NoError(t, src.Add(100*kib))
	require.NoError(t, dst.Add(10*kib))
	require.NoError(t, src.Migrate(dst, 40*kib))
	requireRsv(t, src, 60*kib, 60*kib, "source")
	requireRsv(t, dst, 50*kib, 50*kib, "destination")
	require.EqualValues(t, 110*kib, mayUse(a, format.BlockGroupMetadata), "may_use does not move")

	err := src.Migrate(dst, 60*kib+1)
	require.ErrorIs(t, err, ErrRsvExhausted)
	require.ErrorIs(t, err, syscall.ENOSPC)
	requireRsv(t, src, 60*kib, 60*kib, "refused")
	requireRsv(t, dst, 50*kib, 50*kib, "refused")

	// After a Use the size exceeds what is held; migrating takes from both.
	require.NoError(t, src.Use(20*kib))
	require.NoError(t, src.Migrate(dst, 40*kib))
	requireRsv(t, src, 20*kib, 0, "source")
	requireRsv(t, dst, 90*kib, 90*kib, "destination")

	// Across types may_use would be wrong in both: refused.
	data := a.NewRsv("data", format.BlockGroupData)
	err = dst.Migrate(data, kib)
	require.ErrorIs(t, err, ErrAccounting)
	requireRsv(t, dst, 90*kib, 90*kib, "refused")
	requireRsv(t, data, 0, 0, "refused")
	require.EqualValues(t, 90*kib, mayUse(a, format.BlockGroupMetadata))
}

func TestRsvRelease(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	r := a.NewRsv("trans_block_rsv", format.BlockGroupMetadata)
	keep := a.NewRsv("global_block_rsv", format.BlockGroupMetadata)
	require.NoError(t, keep.Add(mib))
	require.NoError(t, r.Add(100*kib))
	require.NoError(t, r.Use(30*kib))
	require.EqualValues(t, 70*kib, r.Release())
	requireRsv(t, r, 0, 0, "released")
	require.EqualValues(t, mib, mayUse(a, format.BlockGroupMetadata), "only the other reserve's bytes left")
	require.Zero(t, r.Release())
	require.NoError(t, r.Add(metaAvail256-mib), "all of it can be reserved again")
}

func TestRsvFill(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	r := a.NewRsv("global_block_rsv", format.BlockGroupMetadata)
	require.EqualValues(t, mib, r.Fill(mib+5), "whole nodes")
	require.Zero(t, r.Fill(rsvNS-1))
	other := a.NewRsv("other", format.BlockGroupMetadata)
	require.NoError(t, other.Add(5000)) // leaves a limit that is not a multiple of nodes
	left := uint64(metaAvail256 - mib - 5000)
	got := r.Fill(1 << 40)
	require.Equal(t, left/rsvNS*rsvNS, got, "as much as fits, in whole nodes")
	requireRsv(t, r, mib+got, mib+got, "filled")
	require.Zero(t, r.Fill(1<<40))
	require.Zero(t, a.Stats().RsvFailures, "Fill never fails")
	require.Equal(t, metaAvail256-left%rsvNS, mayUse(a, format.BlockGroupMetadata))
}

func TestSpaceInfoFree(t *testing.T) {
	for _, c := range []struct {
		si   SpaceInfo
		free uint64
	}{
		{SpaceInfo{}, 0},
		{SpaceInfo{Total: 100}, 100},
		{SpaceInfo{Total: 100, Used: 10, Pinned: 20, Reserved: 30, MayUse: 15, Readonly: 5}, 20},
		{SpaceInfo{Total: 100, Used: 10, Pinned: 20, Reserved: 30, MayUse: 35, Readonly: 5}, 0},
		{SpaceInfo{Total: 100, MayUse: 1000}, 0},
	} {
		require.Equal(t, c.free, c.si.Free(), "%+v", c.si)
	}
}

func TestDump(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	global := a.NewRsv("global_block_rsv", format.BlockGroupMetadata)
	refs := a.NewRsv("delayed_refs_rsv", format.BlockGroupMetadata)
	require.NoError(t, global.Add(5*mib))
	require.NoError(t, refs.Add(mib))
	require.NoError(t, refs.Use(rsvNS))
	at, err := a.AllocTree(false)
	require.NoError(t, err)
	require.NoError(t, a.PinReserved(at, rsvNS))
	_, err = a.AllocTree(false)
	require.NoError(t, err)
	var b strings.Builder
	a.Dump(&b, global, refs)
	require.Equal(t, `dumping space info:
space_info DATA has 26214400 free, is not full
space_info total=26214400, used=0, pinned=0, reserved=0, may_use=0, readonly=0 zone_unusable=0
space_info METADATA has 19791872 free, is not full
space_info total=26214400, used=114688, pinned=16384, reserved=16384, may_use=6275072, readonly=0 zone_unusable=0
space_info SYSTEM has 4177920 free, is not full
space_info total=4194304, used=16384, pinned=0, reserved=0, may_use=0, readonly=0 zone_unusable=0
global_block_rsv: size 5242880 reserved 5242880
delayed_refs_rsv: size 1048576 reserved 1032192
`, b.String())

	// Overcommitted: the kernel prints total − busy signed.
	require.NoError(t, refs.Add(metaAvail256-mib*6+rsvNS-2*rsvNS))
	b.Reset()
	a.Dump(&b)
	require.Contains(t, b.String(), "space_info METADATA has -105381888 free, is full\n")
}

// TestDumpKernelLines rebuilds the space info of the kernel log quoted in
// dump.go and expects its lines word for word.
func TestDumpKernelLines(t *testing.T) {
	const total = 2181038080 // one METADATA chunk at 1 MiB over the 64 MiB mirror
	a := newTestAlloc(t, 4*gib, rsvNS, testChunk{format.BlockGroupMetadata, mib, mib, total})
	require.NoError(t, a.MarkUsed(mirror+format.StripeLen, 912293888))
	a.mu.Lock()
	g := a.mu.groups[0]
	require.NoError(t, g.free.remove(Range{2 * gib, 3784704}))
	g.Pinned += 3784704
	require.NoError(t, g.free.remove(Range{2*gib + 4*mib, 557056}))
	g.Reserved += 557056
	a.mu.Unlock()
	global := a.NewRsv("global_block_rsv", format.BlockGroupMetadata)
	require.NoError(t, global.Add(306905088))
	require.NoError(t, a.NewRsv("delayed_refs_rsv", format.BlockGroupMetadata).Add(383500288-306905088))
	var b strings.Builder
	a.Dump(&b, global)
	require.Contains(t, b.String(), `
space_info METADATA has 880836608 free, is not full
space_info total=2181038080, used=912293888, pinned=3784704, reserved=557056, may_use=383500288, readonly=65536 zone_unusable=0
`)
	require.True(t, strings.HasSuffix(b.String(), "\nglobal_block_rsv: size 306905088 reserved 306905088\n"))
}

// TestRsvAddLeaving: a data reservation leaving part of the unallocated
// space gets all but that, and leaves no more than is unallocated.
func TestRsvAddLeaving(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	r := a.NewRsv("delalloc_data", format.BlockGroupData)
	leave := uint64(25 * mib)
	require.ErrorIs(t, r.AddLeaving(dataAvail256-leave+1, leave), syscall.ENOSPC)
	requireRsv(t, r, 0, 0, "refused")
	require.NoError(t, r.AddLeaving(dataAvail256-leave, leave))
	require.Equal(t, dataAvail256-leave, mayUse(a, format.BlockGroupData))
	// A leave larger than the unallocated space keeps only what there is.
	require.ErrorIs(t, r.AddLeaving(leave+1, 1<<40), syscall.ENOSPC)
	require.Equal(t, uint64(dataAvail256-leave), r.ReleaseBytes(dataAvail256-leave))
	require.NoError(t, r.AddLeaving(dataFree256, 1<<40), "the groups' free space needs nothing unallocated")
}

// TestRsvReleaseBytes: a partial release returns at most what r holds.
func TestRsvReleaseBytes(t *testing.T) {
	a := newMkfsAlloc(t, 256*mib, rsvNS)
	r := a.NewRsv("delalloc_meta", format.BlockGroupMetadata)
	require.NoError(t, r.Add(3*rsvNS))
	require.Equal(t, uint64(rsvNS), r.ReleaseBytes(rsvNS))
	requireRsv(t, r, 2*rsvNS, 2*rsvNS, "after one")
	require.Equal(t, uint64(2*rsvNS), r.ReleaseBytes(5*rsvNS))
	requireRsv(t, r, 0, 0, "after all")
	require.Zero(t, mayUse(a, format.BlockGroupMetadata))
}
