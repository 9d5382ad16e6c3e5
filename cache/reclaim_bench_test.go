package cache

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

// BenchmarkReclaim measures what one new buffer costs with the cache at its
// budget, for budgets of 1k, 10k and 100k buffers (4 KiB nodes, flusher
// off). Reclaim's share should not grow with the budget:
//
//   - clean: a Get miss (read, verify) with every cached buffer clean and
//     unreferenced; the blocks are read in a cycle longer than the budget,
//     so every Get misses and reclaim evicts the least recently used one;
//   - dirty: a Create, filled and marked dirty, with every cached buffer
//     dirty and unreferenced; reclaim writes back the least recently
//     dirtied (OrderLRU: with addresses reused in a cycle, OrderAddress
//     would soon pick a buffer the cycle needs again) and evicts it.
//
// The read, the checksum and the checkers cost the same at every budget.
// Results and the command are in docs/benchmarks.md §6:
//
//	go test ./cache/ -run '^$' -bench Reclaim -benchtime 2s -count 3
func BenchmarkReclaim(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		rb := newReclaimBench(b, n+n/4)
		b.Run(fmt.Sprintf("clean/buffers=%d", n), func(b *testing.B) { rb.clean(b, n) })
		b.Run(fmt.Sprintf("dirty/buffers=%d", n), func(b *testing.B) { rb.dirty(b, n) })
	}
}

// reclaimBench is a filesystem image on a MemDevice with room for a given
// number of tree blocks besides mkfs's, all holding a valid leaf.
type reclaimBench struct {
	dev   *disk.MemDevice
	cmap  *disk.ChunkMap
	ctx   checker.Context
	gen   uint64   // generation of the blocks written
	tmpl  []byte   // the FS tree's root leaf, to copy
	addrs []uint64 // the blocks, in address order
}

const reclaimBenchNode = 4096

func newReclaimBench(tb testing.TB, blocks int) *reclaimBench {
	const ns, mib = reclaimBenchNode, 1 << 20
	size := int64(blocks)*ns + 160*mib
	dev := disk.NewMemDevice(size)
	o := mkfs.DefaultOptions()
	o.NodeSize = ns
	res, err := mkfs.Make(dev, o)
	require.NoError(tb, err)
	rb := &reclaimBench{dev: dev, cmap: disk.NewChunkMap(), ctx: checker.ContextFromSuper(res.Super),
		gen: res.Generation + 1}
	end := uint64(0)
	for _, c := range res.Chunks {
		end = max(end, c.End())
		rb.mapChunk(tb, c.Logical, c.Length, c.Type, res.SectorSize)
	}
	start := (end + mib - 1) / mib * mib
	rb.mapChunk(tb, start, uint64(size)/mib*mib-start, format.BlockGroupMetadata, res.SectorSize)
	const mirror = 64 << 20 // the superblock mirror
	for a := start; len(rb.addrs) < blocks; a += ns {
		if a+ns <= mirror || a >= mirror+ns {
			rb.addrs = append(rb.addrs, a)
		}
	}
	for _, t := range res.Trees {
		if t.ObjectID == format.FSTreeObjectID {
			off, err := rb.cmap.Physical(t.Bytenr, ns)
			require.NoError(tb, err)
			rb.tmpl = make([]byte, ns)
			require.NoError(tb, dev.ReadAt(rb.tmpl, off, disk.KindMeta))
		}
	}
	require.NotNil(tb, rb.tmpl)
	rb.writeAll(tb)
	return rb
}

func (rb *reclaimBench) mapChunk(tb testing.TB, logical, length, typ uint64, sector uint32) {
	require.NoError(tb, rb.cmap.Insert(logical, &format.ChunkItem{
		Length: length, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen,
		Type: typ, IOAlign: sector, IOWidth: sector, SectorSize: sector,
		NumStripes: 1, SubStripes: 1, Stripes: []format.Stripe{{DevID: 1, Offset: logical}},
	}))
}

// open returns a cache of the given budget in buffers, flusher off.
func (rb *reclaimBench) open(tb testing.TB, buffers int, order WritebackOrder) *Cache {
	o := Options{Budget: int64(buffers) * reclaimBenchNode, DirtyThreshold: math.MaxInt64, Order: order}
	c, err := New(rb.dev, rb.cmap, rb.ctx, o)
	require.NoError(tb, err)
	return c
}

// create makes a dirty copy of the template leaf at addr and releases it.
func (rb *reclaimBench) create(tb testing.TB, c *Cache, addr uint64) {
	eb, err := c.Create(addr)
	if err != nil {
		tb.Fatal(err)
	}
	eb.Lock()
	copy(eb.Data(), rb.tmpl)
	h := eb.Header()
	h.SetBytenr(addr)
	h.SetGeneration(rb.gen)
	h.SetWritten(false)
	c.MarkDirty(eb, rb.gen)
	eb.Unlock()
	c.Release(eb)
}

// writeAll puts a valid leaf at every block.
func (rb *reclaimBench) writeAll(tb testing.TB) {
	c := rb.open(tb, len(rb.addrs)+16, OrderAddress)
	for _, a := range rb.addrs {
		rb.create(tb, c, a)
	}
	require.NoError(tb, c.FlushAll(CauseCommit))
	require.NoError(tb, c.Close())
}

func (rb *reclaimBench) clean(b *testing.B, n int) {
	c := rb.open(b, n, OrderAddress)
	defer c.Close()
	get := func(i int) {
		eb, err := c.Get(checker.ExpectAt(rb.addrs[i%len(rb.addrs)]))
		if err != nil {
			b.Fatal(err)
		}
		c.Release(eb)
	}
	for i := range n {
		get(i)
	}
	before := c.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	i := n
	for b.Loop() {
		get(i)
		i++
	}
	b.StopTimer()
	s := c.Stats().Sub(before)
	require.Equal(b, uint64(i-n), s.Misses, "every Get misses")
	require.Zero(b, s.OverBudget)
}

func (rb *reclaimBench) dirty(b *testing.B, n int) {
	c := rb.open(b, n, OrderLRU)
	for i := range n {
		rb.create(b, c, rb.addrs[i])
	}
	before := c.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	i := n
	for b.Loop() {
		rb.create(b, c, rb.addrs[i%len(rb.addrs)])
		i++
	}
	b.StopTimer()
	s := c.Stats().Sub(before)
	require.GreaterOrEqual(b, s.Writebacks[CauseReclaim]+uint64(n), uint64(i-n), "reclaim writes back")
	require.Zero(b, s.OverBudget)
	require.NoError(b, c.FlushAll(CauseCommit))
	require.NoError(b, c.Close())
}
