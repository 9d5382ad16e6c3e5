package ctree

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized ctree tests (0: time-based)")

// testSeed returns the seed to use and logs how to rerun with it.
func testSeed(t *testing.T) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun: go test ./ctree -run '^%s$' -seed=%d)", seed, t.Name(), seed)
	return seed
}

// testTreeID is the tree the tests build: a subvolume id, whose root leaf
// may be empty and whose items the checker knows nothing about.
const testTreeID = 256

// image is a real btrfs image made by mkfs on a memory device, with the
// chunk map and checker context to open a cache over it.
type image struct {
	dev  *disk.MemDevice
	res  *mkfs.Result
	cmap *disk.ChunkMap
	ctx  checker.Context
	meta mkfs.Chunk
	// policy is the COW policy of the trees opened on the image, and
	// decides the writeback I/O mode of its caches (Policy.WritebackIO).
	policy Policy
	// io, when set, is the device the caches use instead of dev (a wrapper
	// of it); tune, when set, adjusts their options.
	io   disk.Device
	tune func(*cache.Options)
}

func newImage(t *testing.T, size int64, nodesize uint32) *image {
	t.Helper()
	dev := disk.NewMemDevice(size)
	o := mkfs.DefaultOptions()
	o.NodeSize = nodesize
	res, err := mkfs.Make(dev, o)
	require.NoError(t, err)
	cmap, err := disk.ChunkMapFromSuper(res.Super)
	require.NoError(t, err)
	img := &image{dev: dev, res: res, cmap: cmap, ctx: checker.ContextFromSuper(res.Super)}
	img.ctx.SuperGeneration = 0 // the tests write generations beyond the superblock's
	for _, c := range res.Chunks {
		if c.Type&format.BlockGroupSystem != 0 {
			continue
		}
		require.NoError(t, cmap.Insert(c.Logical, &format.ChunkItem{Length: c.Length,
			Owner: format.ExtentTreeObjectID, StripeLen: 64 << 10, Type: c.Type,
			IOAlign: res.SectorSize, IOWidth: res.SectorSize, SectorSize: res.SectorSize,
			NumStripes: 1, Stripes: []format.Stripe{{DevID: 1, Offset: c.Physical}}}))
		if c.Type&format.BlockGroupMetadata != 0 {
			img.meta = c
		}
	}
	require.NotZero(t, img.meta.Length, "no METADATA chunk")
	return img
}

// newCache opens a cache over the image.
func (img *image) newCache(t *testing.T, budget, dirtyThreshold int64) *cache.Cache {
	t.Helper()
	o := cache.DefaultOptions()
	o.Budget, o.DirtyThreshold = budget, dirtyThreshold
	o.IO = img.policy.WritebackIO()
	o.FlushInterval = 0
	if dirtyThreshold < 1<<62 {
		o.FlushInterval = time.Millisecond
	}
	var dev disk.Device = img.dev
	if img.io != nil {
		dev = img.io
	}
	if img.tune != nil {
		img.tune(&o)
	}
	c, err := cache.New(dev, img.cmap, img.ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (img *image) env(c *cache.Cache) *Env {
	o := DefaultOptions()
	o.Policy = img.policy
	return &Env{Cache: c, Ctx: img.ctx, ChunkTreeUUID: img.res.ChunkUUID, Options: o}
}

// testTrans implements Trans with a simple allocator over the METADATA
// chunk: free blocks in address order, freed blocks pinned until commit.
// Commit is stop-the-world: operations hold barrier for reading.
type testTrans struct {
	barrier sync.RWMutex
	mu      sync.Mutex
	transid uint64
	free    []uint64
	pinned  []uint64
	inUse   map[uint64]bool
	dirty   map[uint64]bool // the transaction's dirty set (AddDirty)
	charged int
	limit   int // charges allowed per transaction; 0: unlimited
	// pin-handle: the copies pinned until endHandle, and their cache.
	handlePins cache.PinList
}

func newTestTrans(img *image) *testTrans {
	tt := &testTrans{transid: img.res.Generation + 1, inUse: map[uint64]bool{}, dirty: map[uint64]bool{}}
	used := map[uint64]bool{}
	for _, tr := range img.res.Trees {
		used[tr.Bytenr] = true
	}
	ns := uint64(img.res.NodeSize)
	const mirror, mirrorEnd = 64 << 20, 64<<20 + 4096
	for b := img.meta.Logical; b+ns <= img.meta.End(); b += ns {
		if !used[b] && (b+ns <= mirror || b >= mirrorEnd) {
			tt.free = append(tt.free, b)
		}
	}
	return tt
}

var errTestNoSpace = errors.New("test allocator: no space")

func (tt *testTrans) Transid() uint64 {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return tt.transid
}

func (tt *testTrans) Charge(owner uint64, level int) error {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.limit > 0 && tt.charged >= tt.limit {
		return fmt.Errorf("test reservation of %d blocks exhausted: %w", tt.limit, errTestNoSpace)
	}
	tt.charged++
	return nil
}

func (tt *testTrans) AllocBlock(owner uint64, level int) (uint64, error) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if len(tt.free) == 0 {
		return 0, errTestNoSpace
	}
	b := tt.free[0]
	tt.free = tt.free[1:]
	tt.inUse[b] = true
	return b, nil
}

func (tt *testTrans) FreeBlock(owner uint64, eb *cache.ExtentBuffer) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if !tt.inUse[eb.Bytenr] && eb.Header().Generation() > 1 {
		panic(fmt.Sprintf("test allocator: free of block %d not allocated", eb.Bytenr))
	}
	delete(tt.inUse, eb.Bytenr)
	tt.pinned = append(tt.pinned, eb.Bytenr)
}

// AddDirty records eb's address in the dirty set, which commitDirtySet
// writes (commit writes every dirty block instead).
func (tt *testTrans) AddDirty(eb *cache.ExtentBuffer) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.dirty[eb.Bytenr] = true
}

// PinUntilEnd keeps eb from writeback until endHandle (pin-handle); the
// test sets tt.handlePins to a list of the tree's cache.
func (tt *testTrans) PinUntilEnd(eb *cache.ExtentBuffer) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.handlePins.Pin(eb)
}

// endHandle drops the pins of PinUntilEnd.
func (tt *testTrans) endHandle() {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.handlePins.UnpinAll()
}

// commit writes every dirty block, ends the transaction and unpins what it
// freed. No operation runs meanwhile.
func (tt *testTrans) commit(c *cache.Cache) error {
	tt.barrier.Lock()
	defer tt.barrier.Unlock()
	tt.endHandle() // no operation runs: every handle has ended
	if err := c.FlushAll(cache.CauseCommit); err != nil {
		return err
	}
	tt.end(c)
	return nil
}

// end ends the transaction whose blocks are written: the next one starts
// and what it freed is free again.
func (tt *testTrans) end(c *cache.Cache) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	c.SetLastCommitted(tt.transid)
	tt.transid++
	clear(tt.dirty)
	tt.charged = 0
	slices.Sort(tt.pinned)
	tt.free = append(tt.free, tt.pinned...)
	tt.pinned = nil
}

// harness is one tree on one image, with its cache and transaction.
type harness struct {
	img  *image
	c    *cache.Cache
	tt   *testTrans
	root *Root
}

func newHarness(t *testing.T, size int64, nodesize uint32, budget int64) *harness {
	t.Helper()
	return newHarnessFlusher(t, size, nodesize, budget, 1<<62)
}

// newHarnessFlusher is newHarness with the cache's flusher writing back
// from dirtyThreshold bytes on.
func newHarnessFlusher(t *testing.T, size int64, nodesize uint32, budget, dirtyThreshold int64) *harness {
	t.Helper()
	img := newImage(t, size, nodesize)
	c := img.newCache(t, budget, dirtyThreshold)
	tt := newTestTrans(img)
	root, err := CreateRoot(tt, img.env(c), testTreeID)
	require.NoError(t, err)
	t.Cleanup(root.Close)
	return &harness{img: img, c: c, tt: tt, root: root}
}

// setPolicy switches the tree to policy p; when p needs another writeback
// I/O mode, the tree is committed and reopened over a new cache of the same
// budget.
func (h *harness) setPolicy(t *testing.T, p Policy) {
	t.Helper()
	h.img.policy = p
	h.root.env.Options.Policy = p
	if h.c.Options().IO != p.WritebackIO() {
		h.reopen(t, h.c.Options().Budget)
	}
	h.tt.handlePins = cache.NewPinList(h.c, 0)
}

// reopen flushes everything, opens a fresh cache over the same device and
// the tree from its root block; the old cache is closed.
func (h *harness) reopen(t *testing.T, budget int64) {
	t.Helper()
	require.NoError(t, h.tt.commit(h.c))
	bytenr, level, gen := h.root.Info()
	h.root.Close()
	require.NoError(t, h.c.Close())
	h.c = h.img.newCache(t, budget, 1<<62)
	root, err := OpenRoot(h.img.env(h.c), testTreeID, bytenr, level, gen)
	require.NoError(t, err)
	t.Cleanup(root.Close)
	h.root = root
}

// key numbers i into keys of mixed types (none with item rules).
func testKey(i int) format.Key {
	types := [...]uint8{0, format.OrphanItemKey, format.TemporaryItemKey, format.PersistentItemKey}
	return format.Key{ObjectID: 256 + uint64(i/4), Type: types[i%4], Offset: uint64(i) * 3}
}

// testData is deterministic content for key i, version v.
func testData(i int, v uint64, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), v))
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// itemSize draws mostly small items, some medium, a few up to the maximum.
func itemSize(r *rand.Rand, nodesize uint32) int {
	maxSize := int(format.MaxItemSize(nodesize))
	switch x := r.IntN(100); {
	case x < 3:
		return 0
	case x < 80:
		return r.IntN(120)
	case x < 96:
		return 120 + r.IntN(900)
	}
	return 1000 + r.IntN(maxSize-1000+1)
}

// model is the expected content of the tree: key number → data.
type model map[int][]byte

// fillModel inserts keys 0..n-1 with data of up to maxSize-1 bytes and
// returns them as a model.
func fillModel(t *testing.T, h *harness, r *rand.Rand, n, maxSize int) model {
	t.Helper()
	m := model{}
	for i := range n {
		m[i] = testData(i, 1, r.IntN(maxSize))
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), m[i]), "insert %d", i)
	}
	return m
}

// check compares the whole tree with the model by a full scan.
func (m model) check(t *testing.T, root *Root) {
	t.Helper()
	want := slices.Sorted(func(yield func(int) bool) {
		for i := range m {
			if !yield(i) {
				return
			}
		}
	})
	it := root.ScanFrom(format.Key{})
	n := 0
	for it.Next() {
		require.Less(t, n, len(want), "tree has more items than the model")
		item := it.Item()
		require.Equal(t, testKey(want[n]), item.Key, "item %d", n)
		if !bytes.Equal(m[want[n]], item.Data) {
			require.Equal(t, m[want[n]], item.Data, "data of %v", item.Key)
		}
		n++
	}
	require.NoError(t, it.Err())
	require.Equal(t, len(want), n, "tree has fewer items than the model")
}
