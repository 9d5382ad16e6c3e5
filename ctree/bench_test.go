package ctree

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"cowfs/cache"
	"cowfs/disk/format"
)

// Benchmarks of the B-tree's CPU cost: lookup, insert and delete in trees of
// 10^4 to 10^7 items. The cache budget holds the whole tree and the flusher
// is off, so no operation reads or writes the device; every block belongs
// to the running transaction, so nothing is COWed either. What is measured
// is the search (lock coupling, cache Find per level, binary search in each
// block) and the leaf and node edits. Besides ns/op each reports cpu-ns/op,
// the process's CPU time per operation (cpuMeter), which a machine shared
// with other work inflates less; the lookups also report their work,
// blocks/op and cmps/op (reportWork). Results and the command are in
// docs/benchmarks.md:
//
//	go test -run '^$' -bench . -benchtime 2s ./ctree/
//
// Each tree is built once per process (random insertion order, so leaves
// are as full as random inserts leave them) and shared by the benchmarks;
// an insert or delete benchmark restores the tree's content every
// benchChunk operations with the timer stopped, so the tree keeps its size.

var benchMaxFlag = flag.Int("ctree.benchmax", 10_000_000, "largest tree of the ctree benchmarks, in items")

const (
	benchNodeSize = 16 << 10
	benchDataSize = 16 // bytes of data per item
)

var benchSizes = []int{10_000, 100_000, 1_000_000, 10_000_000}

// benchTree is a tree of n items with the even key numbers 0, 2, ..., 2n-2.
type benchTree struct {
	n    int
	tr   *benchTrans
	c    *cache.Cache
	root *Root
	data []byte
}

var benchTrees = struct {
	sync.Mutex
	m map[int]*benchTree
}{m: map[int]*benchTree{}}

// benchTrans is a Trans for benchmarks: one transaction, blocks handed out
// in address order, and a block freed by the transaction that created it
// (never written: ctree discards it) reused at once, as an allocator may.
type benchTrans struct {
	mu      sync.Mutex
	transid uint64
	free    []uint64 // fresh blocks, in address order
	reuse   []uint64
}

func (bt *benchTrans) Transid() uint64                  { return bt.transid }
func (bt *benchTrans) Charge(owner uint64, _ int) error { return nil }
func (bt *benchTrans) AddDirty(*cache.ExtentBuffer)     {}
func (bt *benchTrans) PinUntilEnd(*cache.ExtentBuffer)  {} // never runs pin-handle

func (bt *benchTrans) AllocBlock(owner uint64, level int) (uint64, error) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if n := len(bt.reuse); n > 0 {
		b := bt.reuse[n-1]
		bt.reuse = bt.reuse[:n-1]
		return b, nil
	}
	if len(bt.free) == 0 {
		return 0, errTestNoSpace
	}
	b := bt.free[0]
	bt.free = bt.free[1:]
	return b, nil
}

func (bt *benchTrans) FreeBlock(owner uint64, eb *cache.ExtentBuffer) {
	if eb.Header().Generation() != bt.transid || eb.Header().Written() {
		return // not in the benchmarks: everything is created in one transaction
	}
	bt.mu.Lock()
	defer bt.mu.Unlock()
	bt.reuse = append(bt.reuse, eb.Bytenr)
}

// benchTreeFor returns the shared tree of n items, building it the first
// time (with the timer stopped).
func benchTreeFor(b *testing.B, n int) *benchTree {
	if n > *benchMaxFlag {
		b.Skipf("tree of %d items is above -ctree.benchmax=%d", n, *benchMaxFlag)
	}
	benchTrees.Lock()
	defer benchTrees.Unlock()
	if bt, ok := benchTrees.m[n]; ok {
		return bt
	}
	b.StopTimer()
	defer b.StartTimer()
	bt := newBenchTree(b, n)
	benchTrees.m[n] = bt
	return bt
}

func newBenchTree(b testing.TB, n int) *benchTree {
	// ~41 bytes per item in leaves ~70% full, plus nodes and slack.
	size := max(int64(256<<20), int64(n)*80+(128<<20))
	img, extra := newBigImage(b, size, benchNodeSize)
	o := cache.DefaultOptions()
	o.Budget, o.DirtyThreshold, o.FlushInterval = size, 1<<62, 0
	c, err := cache.New(img.dev, img.cmap, img.ctx, o)
	require.NoError(b, err)
	tr := &benchTrans{transid: img.res.Generation + 1}
	ns := uint64(benchNodeSize)
	used := map[uint64]bool{}
	for _, t := range img.res.Trees {
		used[t.Bytenr] = true
	}
	for a := img.meta.Logical; a+ns <= img.meta.End(); a += ns {
		if !used[a] && (a+ns <= 64<<20 || a >= 64<<20+4096) {
			tr.free = append(tr.free, a)
		}
	}
	tr.free = append(tr.free, extra...)
	root, err := CreateRoot(tr, img.env(c), testTreeID)
	require.NoError(b, err)
	bt := &benchTree{n: n, tr: tr, c: c, root: root, data: make([]byte, benchDataSize)}
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for _, i := range r.Perm(n) {
		require.NoError(b, InsertItem(tr, root, testKey(2*i), bt.data))
	}
	require.NoError(b, Verify(root))
	s := root.Stats()
	b.Logf("tree of %d items: %d levels, %d leaf splits, %d node splits; cache %d buffers (%d MiB); %s",
		n, root.Level()+1, s.LeafSplits, s.NodeSplits, c.Stats().Buffers, c.Stats().Bytes>>20, root.Env().Options)
	return bt
}

func benchName(n int) string {
	e := 0
	for m := n; m >= 10; m /= 10 {
		e++
	}
	return fmt.Sprintf("keys=1e%d", e)
}

// benchChunk is how many inserts or deletes run before the tree is
// restored: at most 1% of its items, so its size stays within 1%.
func benchChunk(n int) int { return max(1, min(1000, n/100)) }

// cpuMeter measures the process's CPU time (every thread: the benchmark's
// and the garbage collector's) while the benchmark timer runs, reported as
// cpu-ns/op beside ns/op. On a machine shared with other work, ns/op also
// counts the time the benchmark waited for a CPU; cpu-ns/op does not.
type cpuMeter struct{ total, since time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *cpuMeter) start() { m.since = processCPU() }
func (m *cpuMeter) stop()  { m.total += processCPU() - m.since }

func (m *cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(m.total.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// reportWork reports the work of a lookup, apart from its memory stalls:
// the blocks whose slot a search looked for (blocks/op) and the keys it
// compared (cmps/op), averaged over 10,000 searches of keys run after the
// timed loop with the timer stopped (the searches Lookup does, counted by
// the searcher as it goes).
func reportWork(b *testing.B, root *Root, keys func() format.Key) {
	b.StopTimer()
	const runs = 10_000
	var w searchWork
	for range runs {
		var p Path
		found, err := SearchSlot(nil, root, keys(), &p, 0, false)
		if err != nil || !found {
			b.Fatal(err, found)
		}
		w.blocks += p.work.blocks
		w.keys += p.work.keys
		p.Release()
	}
	b.ReportMetric(float64(w.blocks)/runs, "blocks/op")
	b.ReportMetric(float64(w.keys)/runs, "cmps/op")
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(benchName(n), func(b *testing.B) {
			bt := benchTreeFor(b, n)
			r := rand.New(rand.NewPCG(7, uint64(n)))
			var cpu cpuMeter
			b.ReportAllocs()
			b.ResetTimer()
			cpu.start()
			for b.Loop() {
				if _, err := Lookup(bt.root, testKey(2*r.IntN(n))); err != nil {
					b.Fatal(err)
				}
			}
			cpu.stop()
			cpu.report(b)
			reportWork(b, bt.root, func() format.Key { return testKey(2 * r.IntN(n)) })
		})
	}
}

// BenchmarkLookupHot looks up 64 fixed keys spread over the tree in turn:
// their paths stay in the CPU caches, so it measures the algorithmic cost
// (levels, binary searches, locking, Find) without the DRAM and TLB misses
// of BenchmarkLookup's random keys in a tree of hundreds of MiB.
func BenchmarkLookupHot(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(benchName(n), func(b *testing.B) {
			bt := benchTreeFor(b, n)
			r := rand.New(rand.NewPCG(10, uint64(n)))
			var hot [64]format.Key
			for j := range hot {
				hot[j] = testKey(2 * r.IntN(n))
			}
			var cpu cpuMeter
			b.ReportAllocs()
			b.ResetTimer()
			cpu.start()
			j := 0
			for b.Loop() {
				if _, err := Lookup(bt.root, hot[j%len(hot)]); err != nil {
					b.Fatal(err)
				}
				j++
			}
			cpu.stop()
			cpu.report(b)
			reportWork(b, bt.root, func() format.Key { j++; return hot[j%len(hot)] })
		})
	}
}

func BenchmarkInsert(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(benchName(n), func(b *testing.B) {
			bt := benchTreeFor(b, n)
			r := rand.New(rand.NewPCG(8, uint64(n)))
			chunk := benchChunk(n)
			added := make(map[int]bool, chunk)
			var cpu cpuMeter
			b.ReportAllocs()
			b.ResetTimer()
			cpu.start()
			for b.Loop() {
				i := 2*r.IntN(n) + 1 // an odd key number: not in the tree
				for added[i] {
					i = 2*r.IntN(n) + 1
				}
				if err := InsertItem(bt.tr, bt.root, testKey(i), bt.data); err != nil {
					b.Fatal(err)
				}
				added[i] = true
				if len(added) == chunk {
					b.StopTimer()
					cpu.stop()
					bt.undo(b, added, false)
					cpu.start()
					b.StartTimer()
				}
			}
			b.StopTimer()
			cpu.stop()
			cpu.report(b)
			bt.undo(b, added, false)
		})
	}
}

func BenchmarkDelete(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(benchName(n), func(b *testing.B) {
			bt := benchTreeFor(b, n)
			r := rand.New(rand.NewPCG(9, uint64(n)))
			chunk := benchChunk(n)
			gone := make(map[int]bool, chunk)
			var cpu cpuMeter
			b.ReportAllocs()
			b.ResetTimer()
			cpu.start()
			for b.Loop() {
				i := 2 * r.IntN(n)
				for gone[i] {
					i = 2 * r.IntN(n)
				}
				if err := DeleteItem(bt.tr, bt.root, testKey(i)); err != nil {
					b.Fatal(err)
				}
				gone[i] = true
				if len(gone) == chunk {
					b.StopTimer()
					cpu.stop()
					bt.undo(b, gone, true)
					cpu.start()
					b.StartTimer()
				}
			}
			b.StopTimer()
			cpu.stop()
			cpu.report(b)
			bt.undo(b, gone, true)
		})
	}
}

// undo deletes the inserted key numbers (reinsert false) or reinserts the
// deleted ones, and empties the set.
func (bt *benchTree) undo(b testing.TB, keys map[int]bool, reinsert bool) {
	for i := range keys {
		var err error
		if reinsert {
			err = InsertItem(bt.tr, bt.root, testKey(i), bt.data)
		} else {
			err = DeleteItem(bt.tr, bt.root, testKey(i))
		}
		if err != nil {
			b.Fatal(err)
		}
		delete(keys, i)
	}
}

// TestBenchTree checks the benchmarks' machinery on a small tree: built
// and verified, and back to its content after insert and delete rounds.
func TestBenchTree(t *testing.T) {
	const n = 5000
	bt := newBenchTree(t, n)
	r := rand.New(rand.NewPCG(1, 2))
	for _, reinsert := range []bool{false, true} {
		keys := map[int]bool{}
		for len(keys) < benchChunk(n)*10 {
			i := 2 * r.IntN(n)
			if !reinsert {
				i++
			}
			if keys[i] {
				continue
			}
			if reinsert {
				require.NoError(t, DeleteItem(bt.tr, bt.root, testKey(i)))
			} else {
				require.NoError(t, InsertItem(bt.tr, bt.root, testKey(i), bt.data))
			}
			keys[i] = true
		}
		bt.undo(t, keys, reinsert)
		require.Empty(t, keys)
	}
	require.NoError(t, Verify(bt.root))
	m := model{}
	for i := range n {
		m[2*i] = bt.data
	}
	m.check(t, bt.root)
	require.Zero(t, bt.c.Stats().Misses, "the cache holds the whole tree")
	require.Zero(t, bt.c.Stats().WritebacksTotal(), "nothing is written")
	require.Zero(t, bt.root.Stats().TotalCOWs(), "nothing is COWed")
}

// TestSlotSearch checks BenchmarkLeafSearch's alternative searches
// (quadLeafSearch, quadNodeSearch) against leafSlot and nodeSlot, so that
// the benchmark compares searches that agree: random blocks of 0 to 700
// keys with repeated objectids and types, keys in the block, between its
// keys, and beyond both ends.
func TestSlotSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(ctreeSeed(t), 3))
	randKey := func() format.Key {
		return format.Key{ObjectID: r.Uint64N(64), Type: uint8(r.UintN(4)), Offset: r.Uint64N(8)}
	}
	for range 300 {
		set := map[format.Key]bool{}
		for n := r.IntN(700); len(set) < n && len(set) < 64*4*8; {
			set[randKey()] = true
		}
		keys := make([]format.Key, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, format.Key.Compare)
		leaf := format.Leaf(make([]byte, 32<<10))
		insertItems(leaf, 0, keys, make([]uint32, len(keys)))
		node := format.Node(make([]byte, 32<<10))
		for i, k := range keys {
			insertPtr(node, i, format.KeyPtr{Key: k, BlockPtr: uint64(i)})
		}
		for range 200 {
			k := randKey()
			if r.IntN(4) == 0 {
				k = format.Key{ObjectID: r.Uint64(), Type: uint8(r.Uint32()), Offset: r.Uint64()}
			}
			gotSlot, gotFound := quadLeafSearch(leaf, k)
			slot, found := leafSlot(leaf, k)
			require.Equal(t, []any{slot, found}, []any{gotSlot, gotFound}, "leaf of %d keys, key %v", len(keys), k)
			gotSlot, gotFound = quadNodeSearch(node, k)
			slot, found = nodeSlot(node, k)
			require.Equal(t, []any{slot, found}, []any{gotSlot, gotFound}, "node of %d keys, key %v", len(keys), k)
		}
	}
}

// BenchmarkLeafSearch isolates two questions of docs/benchmarks.md §5 on
// the search within a leaf, with copies of every leaf of the benchmark
// tree, so that the variants run on the same bytes in the same process:
// pages=huge holds the copies in a mapping advised MADV_HUGEPAGE (as the
// cache's arena is), pages=4k in one advised MADV_NOHUGEPAGE; search=binary
// is leafSlot (what SearchSlot uses), search=quad is quadLeafSearch. Each
// operation searches a random key in a random leaf.
func BenchmarkLeafSearch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(benchName(n), func(b *testing.B) {
			bt := benchTreeFor(b, n)
			leaves := benchLeaves(b, bt)
			ns := len(leaves[0])
			for _, pages := range []string{"huge", "4k"} {
				advice := unix.MADV_HUGEPAGE
				if pages == "4k" {
					advice = unix.MADV_NOHUGEPAGE
				}
				m, err := unix.Mmap(-1, 0, len(leaves)*ns, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
				require.NoError(b, err)
				require.NoError(b, unix.Madvise(m, advice))
				copies := make([]format.Leaf, len(leaves))
				for i, l := range leaves {
					copies[i] = format.Leaf(m[i*ns : (i+1)*ns])
					copy(copies[i], l)
				}
				for _, search := range []string{"binary", "quad"} {
					b.Run("pages="+pages+"/search="+search, func(b *testing.B) {
						r := rand.New(rand.NewPCG(11, uint64(n)))
						sink := 0
						for b.Loop() {
							l := copies[r.IntN(len(copies))]
							k := testKey(2 * r.IntN(n))
							var slot int
							if search == "quad" {
								slot, _ = quadLeafSearch(l, k)
							} else {
								slot, _ = leafSlot(l, k)
							}
							sink += slot
						}
						if sink < 0 {
							b.Fatal(sink)
						}
					})
				}
				require.NoError(b, unix.Munmap(m))
			}
		})
	}
}

// benchLeaves returns copies of the bytes of every leaf of bt's tree.
func benchLeaves(b *testing.B, bt *benchTree) [][]byte {
	var out [][]byte
	var walk func(eb *cache.ExtentBuffer)
	walk = func(eb *cache.ExtentBuffer) {
		defer bt.c.Release(eb)
		if eb.Header().Level() == 0 {
			out = append(out, slices.Clone(eb.Data()))
			return
		}
		nd := eb.Node()
		for i := range nd.NrItems() {
			child := bt.c.Find(nd.BlockPtr(i))
			require.NotNil(b, child)
			walk(child)
		}
	}
	walk(bt.root.grabNode())
	return out
}

// quadLeafSearch and quadNodeSearch are the alternative to leafSlot and
// nodeSlot that BenchmarkLeafSearch measures: three keys read per round, at
// the quartiles of the range, hoping that their cache misses overlap, then
// binary below quadMin keys. They touch more cache lines, and measured
// slower than the binary search at every tree size (docs/benchmarks.md §5):
// the binary search's next probe is already loaded speculatively down the
// predicted branch. Kept here so the comparison can be rerun.

const quadMin = 8

func quadLeafSearch(l format.Leaf, key format.Key) (int, bool) {
	i := quadLowerBound(l, format.ItemHeaderSize, key, l.NrItems())
	return i, i < l.NrItems() && l.ItemKey(i) == key
}

func quadNodeSearch(nd format.Node, key format.Key) (int, bool) {
	i := quadLowerBound(nd, format.KeyPtrSize, key, nd.NrItems())
	if i < nd.NrItems() && nd.Key(i) == key {
		return i, true
	}
	return max(i-1, 0), false
}

// quadLowerBound is lowerBound (key.go) with three probes per round.
func quadLowerBound(b []byte, size int, key format.Key, nr int) int {
	lo, hi := 0, nr // keys before lo are < key; keys from hi on are >= key
	for hi-lo > quadMin {
		q := (hi - lo) / 4
		m1, m2, m3 := lo+q, lo+2*q, lo+3*q
		k1, k2, k3 := blockKey(b, size, m1), blockKey(b, size, m2), blockKey(b, size, m3)
		switch {
		case k3.Less(key):
			lo = m3 + 1
		case k2.Less(key):
			lo, hi = m2+1, m3
		case k1.Less(key):
			lo, hi = m1+1, m2
		default:
			hi = m1
		}
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if blockKey(b, size, m).Less(key) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
