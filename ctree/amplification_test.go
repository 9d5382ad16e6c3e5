package ctree

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
)

// The seed's loop (docs/problem.md "Why it ran out"), reproduced deterministically:
// one goroutine, a real mkfs image, a 3-level tree, a cache whose budget is
// taken by buffers other work holds (memory pressure), the flusher off, the
// `always` policy and ctree's kernel restart behaviour (HoldReadsAfter -1).
// One file create's first SearchSlot COWs the same level-1 node again and
// again until the handle's reservation runs out:
//
//	go test -v -run TestCOWAmplificationLoop ./ctree/
//
// prints the 12 steps' evidence and the figures.

const (
	ampNodeSize = 4096
	ampParent   = 256 // the directory the files are created in
	// ampReserve is the handle's reservation in blocks: what the kernel
	// reserves for 8 items (8 × BTRFS_MAX_LEVEL × 2 nodes).
	ampReserve = 8 * format.MaxLevel * 2
)

// errAmpReservation is the ENOSPC-like error of an exhausted reservation.
var errAmpReservation = fmt.Errorf("reservation exhausted: %w", syscall.ENOSPC)

// ampCreate returns the items one file create inserts, in the kernel's
// order: INODE_ITEM, INODE_REF, DIR_ITEM, DIR_INDEX. The key types are
// stand-ins without item rules (0, ORPHAN, TEMPORARY, PERSISTENT keep the
// kernel's order within an objectid); offsets and sizes are the kernel's.
func ampCreate(i int) ([]format.Key, [][]byte) {
	name := fmt.Sprintf("file-%08d", i)
	ino := uint64(ampParent + 1 + i)
	keys := []format.Key{
		{ObjectID: ino, Type: 0, Offset: 0},
		{ObjectID: ino, Type: format.OrphanItemKey, Offset: ampParent},
		{ObjectID: ampParent, Type: format.TemporaryItemKey, Offset: format.NameHash([]byte(name))},
		{ObjectID: ampParent, Type: format.PersistentItemKey, Offset: uint64(2 + i)},
	}
	sizes := []int{160, 10 + len(name), 30 + len(name), 30 + len(name)}
	datas := make([][]byte, len(keys))
	for j, s := range sizes {
		datas[j] = testData(4*i+j, 1, s)
	}
	return keys, datas
}

// ampEvent is one thing that happened during a traced search.
type ampEvent struct {
	kind     string // charge, enospc, alloc, free, read, write
	bytenr   uint64
	level    int
	own      bool // free: the block's generation is the running transid
	written  bool // free: its WRITTEN flag was set
	firstKey format.Key
}

func (e ampEvent) String() string {
	switch e.kind {
	case "free":
		return fmt.Sprintf("free  block %d level %d first key %v own=%t WRITTEN=%t", e.bytenr, e.level, e.firstKey, e.own, e.written)
	case "alloc":
		return fmt.Sprintf("alloc block %d level %d (COW target)", e.bytenr, e.level)
	case "read", "write":
		return fmt.Sprintf("%-5s block %d", e.kind, e.bytenr)
	}
	return fmt.Sprintf("%s level %d", e.kind, e.level)
}

// ampTrans is the test allocator with a reservation of reserve charges
// (0: unlimited), after which Charge fails with ENOSPC, and a trace of its
// calls and of the device's block I/O.
type ampTrans struct {
	*testTrans
	mu      sync.Mutex
	reserve int
	charged int
	tracing bool
	events  []ampEvent
	dirtied map[uint64]bool // distinct blocks given to AddDirty
}

// AddDirty counts distinct dirtied blocks, for write amplification.
func (a *ampTrans) AddDirty(eb *cache.ExtentBuffer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dirtied == nil {
		a.dirtied = map[uint64]bool{}
	}
	a.dirtied[eb.Bytenr] = true
}

// writeAmp = bytes written / (nodesize × distinct blocks dirtied).
func (a *ampTrans) writeAmp(bytesWritten uint64) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return float64(bytesWritten) / float64(ampNodeSize*len(a.dirtied))
}

func (a *ampTrans) record(e ampEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tracing {
		a.events = append(a.events, e)
	}
}

func (a *ampTrans) Charge(owner uint64, level int) error {
	a.mu.Lock()
	if a.reserve > 0 && a.charged >= a.reserve {
		a.mu.Unlock()
		a.record(ampEvent{kind: "enospc", level: level})
		return fmt.Errorf("charge for tree %d level %d after %d blocks: %w", owner, level, a.reserve, errAmpReservation)
	}
	a.charged++
	a.mu.Unlock()
	a.record(ampEvent{kind: "charge", level: level})
	return a.testTrans.Charge(owner, level)
}

func (a *ampTrans) AllocBlock(owner uint64, level int) (uint64, error) {
	b, err := a.testTrans.AllocBlock(owner, level)
	if err == nil {
		a.record(ampEvent{kind: "alloc", bytenr: b, level: level})
	}
	return b, err
}

func (a *ampTrans) FreeBlock(owner uint64, eb *cache.ExtentBuffer) {
	h := eb.Header()
	e := ampEvent{kind: "free", bytenr: eb.Bytenr, level: int(h.Level()),
		own: h.Generation() == a.Transid(), written: h.Written()}
	if h.Level() == 0 {
		if eb.Leaf().NrItems() > 0 {
			e.firstKey = eb.Leaf().ItemKey(0)
		}
	} else {
		e.firstKey = eb.Node().Key(0)
	}
	a.record(e)
	a.testTrans.FreeBlock(owner, eb)
}

// ampDev records the block reads and writes of the cache (mkfs maps chunks
// identically, so physical offsets are logical addresses).
type ampDev struct {
	*disk.MemDevice
	tr *ampTrans
}

func (d *ampDev) ReadAt(p []byte, off int64, k disk.Kind) error {
	if k == disk.KindMeta {
		d.tr.record(ampEvent{kind: "read", bytenr: uint64(off)})
	}
	return d.MemDevice.ReadAt(p, off, k)
}

func (d *ampDev) WriteAt(p []byte, off int64, k disk.Kind) error {
	if k == disk.KindMeta {
		for o := 0; o < len(p); o += ampNodeSize {
			d.tr.record(ampEvent{kind: "write", bytenr: uint64(off) + uint64(o)})
		}
	}
	return d.MemDevice.WriteAt(p, off, k)
}

// ampScenario is one run: a tree of `files` creates (committed), reopened
// with a cache of budgetNodes nodes of which `pressure` are held by other
// work, then one more file create under a reservation.
type ampScenario struct {
	budgetNodes int
	pressure    int // buffers of the image's other trees held referenced
	hold        int // Options.HoldReadsAfter
	reserve     int
	policy      Policy
}

// ampResult is what one scenario measured.
type ampResult struct {
	height   int
	files    int
	err      error // of the create
	inserted int   // of its 4 items
	st       Stats
	cs       cache.Stats
	events   []ampEvent
	charged  int
	dirtied  int // distinct blocks dirtied by the create
}

// ampBuild grows a directory of file creates until the tree has 3 levels.
func ampBuild(t *testing.T, h *harness) int {
	t.Helper()
	i := 0
	for ; h.root.Level() < 2; i++ {
		keys, datas := ampCreate(i)
		for j := range keys {
			require.NoError(t, InsertItem(h.tt, h.root, keys[j], datas[j]), "create %d item %d", i, j)
		}
	}
	require.NoError(t, Verify(h.root))
	require.NoError(t, h.tt.commit(h.c))
	return i
}

// ampOpen closes the harness's cache and reopens the committed tree over a
// recording device with a cache of budget bytes, the flusher disabled and
// the given HoldReadsAfter.
func ampOpen(t *testing.T, h *harness, budget int64, hold int) *ampTrans {
	t.Helper()
	bytenr, level, gen := h.root.Info()
	h.root.Close()
	require.NoError(t, h.c.Close())
	a := &ampTrans{testTrans: h.tt}
	o := cache.DefaultOptions()
	o.Budget, o.DirtyThreshold, o.FlushInterval = budget, 1<<62, 0
	o.IO = h.img.policy.WritebackIO()
	c, err := cache.New(&ampDev{MemDevice: h.img.dev, tr: a}, h.img.cmap, h.img.ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	env := h.img.env(c)
	env.Options.HoldReadsAfter = hold
	root, err := OpenRoot(env, testTreeID, bytenr, level, gen)
	require.NoError(t, err)
	t.Cleanup(root.Close)
	h.c, h.root = c, root
	return a
}

// ampPressure takes and holds a reference on up to n root blocks of the
// image's other trees (as other operations' paths would), released at
// cleanup.
func ampPressure(t *testing.T, h *harness, n int) {
	t.Helper()
	for _, tr := range h.img.res.Trees {
		if n == 0 {
			break
		}
		eb, err := h.c.Get(checker.Expect{Bytenr: tr.Bytenr, Level: 0, Generation: h.img.res.Generation, Owner: tr.ObjectID})
		require.NoError(t, err, "read %s root", tr.Name)
		c := h.c
		t.Cleanup(func() { c.Release(eb) })
		n--
	}
	require.Zero(t, n, "not enough other trees to hold")
}

func runAmpScenario(t *testing.T, sc ampScenario) ampResult {
	t.Helper()
	h := newHarness(t, 64<<20, ampNodeSize, 64<<20)
	files := ampBuild(t, h)
	h.img.policy = sc.policy
	a := ampOpen(t, h, int64(sc.budgetNodes)*ampNodeSize, sc.hold)
	ampPressure(t, h, sc.pressure)

	res := ampResult{height: h.root.Level() + 1, files: files}
	st0, cs0 := h.root.Stats(), h.c.Stats()
	a.reserve, a.tracing = sc.reserve, true
	a.handlePins = cache.NewPinList(h.c, 0)
	keys, datas := ampCreate(files) // one handle: the create's items
	for j := range keys {
		if res.err = InsertItem(a, h.root, keys[j], datas[j]); res.err != nil {
			break
		}
		res.inserted++
	}
	a.endHandle()
	a.tracing = false
	res.st, res.cs = h.root.Stats().Sub(st0), h.c.Stats().Sub(cs0)
	res.events, res.charged, res.dirtied = a.events, a.charged, len(a.dirtied)
	a.reserve = 0

	// Whatever happened, the tree is whole: in the cache, and read back
	// from the device by a fresh cache.
	require.NoError(t, Verify(h.root), "tree after the create")
	ampOpenCheck(t, h, files, res.inserted)
	return res
}

// ampOpenCheck flushes the tree, reads it back through a fresh cache,
// verifies it and checks that every earlier file and the `inserted` first
// items of the last create are there.
func ampOpenCheck(t *testing.T, h *harness, files, inserted int) {
	t.Helper()
	require.NoError(t, h.tt.commit(h.c))
	ampOpen(t, h, 64<<20, 0)
	require.NoError(t, Verify(h.root), "tree read back by a fresh cache")
	want := 0
	for i := 0; i <= files; i++ {
		keys, datas := ampCreate(i)
		for j := range keys {
			got, err := Lookup(h.root, keys[j])
			if i == files && j >= inserted {
				require.ErrorIs(t, err, ErrNotFound, "item %d of the failed create", j)
				continue
			}
			require.NoError(t, err, "file %d item %d", i, j)
			require.Equal(t, datas[j], got, "file %d item %d", i, j)
			want++
		}
	}
	n := 0
	it := h.root.ScanFrom(format.Key{})
	for it.Next() {
		n++
	}
	require.NoError(t, it.Err())
	require.Equal(t, want, n, "items in the tree")
}

// position is a logical tree position: a level and the first key of the
// block there (unchanged by a COW).
type position struct {
	level int
	key   format.Key
}

// cowsPerPosition counts the frees of COWed blocks by position, in the
// order positions were first COWed.
func cowsPerPosition(events []ampEvent) ([]position, map[position][]ampEvent) {
	var order []position
	m := map[position][]ampEvent{}
	for _, e := range events {
		if e.kind != "free" {
			continue
		}
		p := position{e.level, e.firstKey}
		if _, ok := m[p]; !ok {
			order = append(order, p)
		}
		m[p] = append(m[p], e)
	}
	return order, m
}

// TestCOWAmplificationLoop reproduces the 12 steps of docs/problem.md in one
// SearchSlot and checks them against the figures and the trace; a sweep
// over budgets shows where the loop starts; the control (a large budget)
// COWs each position once; HoldReadsAfter (ctree's progress guarantee)
// bounds the same scenario.
func TestCOWAmplificationLoop(t *testing.T) {
	// The budget sweep: the largest budget at which one search loops.
	t.Log("budget sweep (3-level tree, 4 KiB nodes, flusher off, policy always, kernel restarts):")
	t.Log("  budget  held-by-others  max-COWs-in-one-search  create")
	for _, sc := range []ampScenario{
		{budgetNodes: 4, pressure: 0}, {budgetNodes: 8, pressure: 0},
		{budgetNodes: 4, pressure: 2}, {budgetNodes: 4, pressure: 3}, {budgetNodes: 4, pressure: 6},
		{budgetNodes: 6, pressure: 3}, {budgetNodes: 6, pressure: 4}, {budgetNodes: 8, pressure: 6},
	} {
		sc.hold, sc.reserve = -1, ampReserve
		r := runAmpScenario(t, sc)
		t.Logf("  %2d nodes  %2d  %4d  %v", sc.budgetNodes, sc.pressure, r.st.MaxSearchCOWs, errOrOK(r.err))
	}

	// The loop: 4-node budget (the cache's minimum), 6 of the image's other
	// tree blocks held by other work: the cache stays over budget, so every
	// block a search reads makes reclaim evict every clean unreferenced
	// buffer and write back every dirty unreferenced one.
	sc := ampScenario{budgetNodes: cache.MinBudgetNodes, pressure: 6, hold: -1, reserve: ampReserve}
	r := runAmpScenario(t, sc)
	require.GreaterOrEqual(t, r.height, 3)
	require.ErrorIs(t, r.err, syscall.ENOSPC, "the reservation runs out inside the search")
	require.Zero(t, r.inserted, "the first item's search never finished")
	logAmpSteps(t, sc, r)

	st := r.st
	require.Equal(t, uint64(1), st.Searches, "one SearchSlot")
	require.Equal(t, uint64(ampReserve), st.MaxSearchCOWs, "every charge of the reservation went to COWs of that search")
	require.Equal(t, uint64(1), st.SearchCOWHist[histBucket(ampReserve)], "in the histogram's bucket of %d", ampReserve)
	require.Equal(t, uint64(1), st.COWs[2], "the root is COWed once: the tree holds it referenced")
	require.GreaterOrEqual(t, st.COWs[1], uint64(100), "level 1 COWed >= 100 times")
	require.Equal(t, st.COWs[1]-1, st.ReCOWs[1], "every level-1 COW but the first is a re-COW")
	require.Zero(t, st.COWs[0], "the walk never reaches the leaf")
	require.GreaterOrEqual(t, st.Restarts[RestartNotCached], 2*(st.COWs[1]-1), "two not-cached restarts per round")
	require.GreaterOrEqual(t, r.cs.Writebacks[cache.CauseReclaim], st.ReCOWs[1], "a reclaim writeback before each re-COW")
	require.Zero(t, r.cs.Writebacks[cache.CauseThreshold], "the flusher is off")

	order, per := cowsPerPosition(r.events)
	require.Len(t, order, 2, "two positions COWed: the root and one level-1 node")
	loop := per[order[1]]
	require.Equal(t, 1, order[1].level)
	require.GreaterOrEqual(t, len(loop), 100, "one logical position COWed >= 100 times")
	addrs := map[uint64]bool{}
	for k, e := range loop {
		addrs[e.bytenr] = true
		if k > 0 {
			require.True(t, e.own && e.written, "COW %d of the position copied a WRITTEN block of this transaction", k)
		}
	}
	require.Len(t, addrs, len(loop), "each round allocated a new block")

	// ctree's progress guarantee (HoldReadsAfter, default 8) bounds the
	// same scenario: the create completes.
	sc.hold = 0
	b := runAmpScenario(t, sc)
	require.NoError(t, b.err)
	require.Less(t, b.st.MaxSearchCOWs, uint64(ampReserve))
	t.Logf("same scenario with HoldReadsAfter=%d: create done, max COWs in one search %d, re-COWs %d, restarts %d",
		DefaultHoldReadsAfter, b.st.MaxSearchCOWs, b.st.TotalReCOWs(), b.st.TotalRestarts())

	// Control: a budget that holds the whole tree. Each position on each
	// item's path is COWed once in the transaction, never again.
	c := runAmpScenario(t, ampScenario{budgetNodes: 16384, hold: -1, reserve: ampReserve})
	require.NoError(t, c.err)
	require.Equal(t, 4, c.inserted)
	require.Zero(t, c.st.TotalReCOWs(), "control: no re-COW")
	require.Zero(t, c.cs.Writebacks[cache.CauseReclaim], "control: no reclaim writeback")
	require.LessOrEqual(t, c.st.MaxSearchCOWs, uint64(c.height), "control: at most one COW per level per search")
	_, cper := cowsPerPosition(c.events)
	for p, es := range cper {
		require.Len(t, es, 1, "control: position %v COWed once", p)
	}
	t.Logf("control (budget 64 MiB): 4 items inserted, COWs %d (by level %v), re-COWs 0, max COWs in one search %d, reclaim writebacks 0",
		c.st.TotalCOWs(), trim(c.st.COWs[:]), c.st.MaxSearchCOWs)
}

// histBucket is the index of the Stats.SearchCOWHist bucket counting a
// search that COWed n blocks.
func histBucket(n uint64) int {
	for i, b := range COWHistBounds {
		if n <= b {
			return i
		}
	}
	return len(COWHistBounds)
}

func errOrOK(err error) string {
	if err == nil {
		return "done"
	}
	if errors.Is(err, syscall.ENOSPC) {
		return "ENOSPC"
	}
	return err.Error()
}

// logAmpSteps prints the trace of the first rounds and, step by step, the
// figures that show each of docs/problem.md's 12 steps.
func logAmpSteps(t *testing.T, sc ampScenario, r ampResult) {
	t.Helper()
	order, per := cowsPerPosition(r.events)
	loop := per[order[len(order)-1]]
	var b strings.Builder
	fmt.Fprintf(&b, "scenario: %d-level tree of %d file creates (4 KiB nodes), committed; cache budget %d nodes with %d held by other work, flusher off, policy %s, HoldReadsAfter %d, reservation %d blocks\n",
		r.height, r.files, sc.budgetNodes, sc.pressure, PolicyAlways, sc.hold, sc.reserve)
	b.WriteString("trace of the search's first events (device reads and writes, allocator calls):\n")
	for k, e := range r.events {
		if k == 40 {
			fmt.Fprintf(&b, "  ... %d events in all\n", len(r.events))
			break
		}
		fmt.Fprintf(&b, "  %3d %v\n", k, e)
	}
	st, cs := r.st, r.cs
	fmt.Fprintf(&b, "step 1  search_slot walks down with cow=1: InsertItem of file %d's INODE_ITEM: SearchSlot(insLen=%d, cow=true); searches=%d\n",
		r.files, 160+format.ItemHeaderSize, st.Searches)
	fmt.Fprintf(&b, "step 2  a node needs COW: level 1, position %v, first for its old generation, then for WRITTEN\n", order[len(order)-1].key)
	fmt.Fprintf(&b, "step 3  cow_block: charged, allocated, copied, parent repointed: COWs by level %v\n", trim(st.COWs[:]))
	fmt.Fprintf(&b, "step 4  restart: the child leaf is not cached: restarts not-cached=%d write-level=%d\n",
		st.Restarts[RestartNotCached], st.Restarts[RestartWriteLevel])
	copies, copiesWritten := map[uint64]bool{}, 0
	for _, e := range r.events {
		switch {
		case e.kind == "alloc" && e.level == 1:
			copies[e.bytenr] = true
		case e.kind == "write" && copies[e.bytenr]:
			copiesWritten++
		}
	}
	fmt.Fprintf(&b, "step 5  release_path drops locks and references: %d of the %d level-1 copies were then written by reclaim, which takes only dirty unreferenced buffers\n",
		copiesWritten, len(copies))
	fmt.Fprintf(&b, "step 6  memory pressure: the read runs reclaim: writebacks by reclaim=%d, evictions=%d, misses=%d, over-budget admissions=%d\n",
		cs.Writebacks[cache.CauseReclaim], cs.Evictions, cs.Misses, cs.OverBudget)
	written := 0
	for _, e := range loop[1:] {
		if e.written {
			written++
		}
	}
	fmt.Fprintf(&b, "step 7  writeback clears DIRTY and sets WRITTEN: %d of the %d copies were freed with WRITTEN set\n", written, len(loop)-1)
	fmt.Fprintf(&b, "step 8  the walk restarts from the root: restarts in all=%d in one search\n", st.TotalRestarts())
	fmt.Fprintf(&b, "step 9  it reaches the same block again (read back: %d block reads)\n", cs.Misses)
	fmt.Fprintf(&b, "step 10 shouldCOW sees WRITTEN (own generation): re-COWs by level %v, re-COW ratio %.3f\n",
		trim(st.ReCOWs[:]), st.ReCOWRatio())
	fmt.Fprintf(&b, "step 11 a new block for the same position, charged again: %d distinct blocks for position %v\n",
		len(loop), order[len(order)-1].key)
	fmt.Fprintf(&b, "step 12 repeat until the reservation is gone: charges=%d of %d, max COWs in one search=%d, result: %v\n",
		r.charged, sc.reserve, st.MaxSearchCOWs, r.err)
	fmt.Fprintf(&b, "write amplification: %d bytes written / (%d × %d distinct blocks dirtied) = %.3f; %d COWed positions, %.1f blocks dirtied per position\n",
		cs.BytesWritten, ampNodeSize, r.dirtied, float64(cs.BytesWritten)/float64(ampNodeSize*r.dirtied),
		len(order), float64(r.dirtied)/float64(len(order)))
	fmt.Fprintf(&b, "figures: %s\ncache: %s", st, cs)
	t.Log(b.String())
}

// TestCOWAmplificationConcurrent is the statistical version: 8 goroutines
// create files in one directory of a committed 3-level tree, with a small
// cache whose reclaim and flusher (low dirty threshold) write back blocks
// the creates have just COWed. Re-COWs must occur; the histogram of COWs
// per SearchSlot and the re-COW ratio are logged; the tree verifies and
// holds every file, in the cache and read back from the device.
func TestCOWAmplificationConcurrent(t *testing.T) {
	const (
		workers = 8
		perG    = 60 // creates per goroutine
	)
	h := newHarness(t, 64<<20, ampNodeSize, 64<<20)
	files := ampBuild(t, h)
	bytenr, level, gen := h.root.Info()
	h.root.Close()
	require.NoError(t, h.c.Close())
	h.c = h.img.newCache(t, 32*ampNodeSize, 8*ampNodeSize) // flusher on from 8 dirty nodes
	root, err := OpenRoot(h.img.env(h.c), testTreeID, bytenr, level, gen)
	require.NoError(t, err)
	t.Cleanup(root.Close)
	h.root = root
	t.Logf("tree: %d levels, %d files; cache %s; ctree %s", h.root.Level()+1, files, h.c.Options(), h.root.Env().Options)

	a := &ampTrans{testTrans: h.tt}
	st0, cs0 := h.root.Stats(), h.c.Stats()
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perG {
				keys, datas := ampCreate(files + g + workers*k)
				for j := range keys {
					if err := InsertItem(a, h.root, keys[j], datas[j]); err != nil {
						errs <- fmt.Errorf("goroutine %d create %d item %d: %w", g, k, j, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st, cs := h.root.Stats().Sub(st0), h.c.Stats().Sub(cs0)
	t.Logf("%d goroutines x %d file creates (4 items each):\n%s\ncache: %s", workers, perG, st, cs)
	require.NoError(t, Verify(h.root))
	// The commit writes what is still dirty (and waits for flusher writes
	// in flight: TestBugFlushAllSkipsWritebackInFlight).
	require.NoError(t, h.tt.commit(h.c))
	wcs := h.c.Stats().Sub(cs0)
	t.Logf("write amplification (run and commit): %d bytes / (%d × %d distinct blocks dirtied) = %.3f",
		wcs.BytesWritten, ampNodeSize, len(a.dirtied), a.writeAmp(wcs.BytesWritten))
	t.Logf("COWs per SearchSlot: mean %.3f, max %d; histogram:", st.COWsPerSearch(), st.MaxSearchCOWs)
	lo := uint64(0)
	for i, n := range st.SearchCOWHist {
		label := "more"
		if i < len(COWHistBounds) {
			label = fmt.Sprintf("%d..%d", lo, COWHistBounds[i])
			lo = COWHistBounds[i] + 1
		}
		t.Logf("  %-9s %6d", label, n)
	}
	t.Logf("re-COW ratio %.3f (re-COWs %d of %d COWs); writebacks reclaim=%d threshold=%d",
		st.ReCOWRatio(), st.TotalReCOWs(), st.TotalCOWs(), cs.Writebacks[cache.CauseReclaim], cs.Writebacks[cache.CauseThreshold])

	require.Equal(t, uint64(workers*perG*4), st.Searches)
	require.NotZero(t, st.TotalReCOWs(), "re-COWs under reclaim and the flusher")
	require.NotZero(t, cs.Writebacks[cache.CauseReclaim]+cs.Writebacks[cache.CauseThreshold])
	ampOpenCheck(t, h, files+workers*perG-1, 4)
}

// TestReservationExhaustedAtEveryCharge runs inserts and deletes on a
// committed 3-level tree (every path needs COW) with the reservation
// running out at each charge in turn: the first attempt of an operation
// may charge nothing, the next one, and so on until it succeeds. Each
// failure must be ENOSPC with the operation not done, and the tree must
// verify after it; at the end the tree equals the model, also read back
// from disk.
func TestReservationExhaustedAtEveryCharge(t *testing.T) {
	h := newHarness(t, 128<<20, ampNodeSize, 64<<20)
	m := model{}
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; h.root.Level() < 2; i += 2 {
		d := testData(i, 1, itemSize(r, ampNodeSize)/3)
		require.NoError(t, InsertItem(h.tt, h.root, testKey(i), d))
		m[i] = d
	}
	keys := len(m) * 2
	a := &ampTrans{testTrans: h.tt}
	failures := 0
	// 100 random inserts and deletes, then deletes of a range of keys from
	// its end (leaf merges and removals), committing every 50.
	var order []int
	for range 100 {
		order = append(order, r.IntN(keys))
	}
	for i := keys/3 + keys/4; i >= keys/3; i-- { // right to left: merges COW the left neighbour
		if _, ok := m[i]; ok {
			order = append(order, i)
		}
	}
	for op, i := range order {
		if op%50 == 0 {
			require.NoError(t, h.tt.commit(h.c))
		}
		_, present := m[i]
		d := testData(i, 2, itemSize(r, ampNodeSize))
		for k := 0; ; k++ {
			a.reserve = a.charged + k
			var err error
			if present {
				err = DeleteItem(a, h.root, testKey(i))
			} else {
				err = InsertItem(a, h.root, testKey(i), d)
			}
			a.reserve = 0
			if err == nil {
				break
			}
			require.NoError(t, Verify(h.root), "op %d (delete %t of %v) after %d charges", op, present, testKey(i), k)
			got, lerr := Lookup(h.root, testKey(i))
			failures++
			require.ErrorIs(t, err, syscall.ENOSPC, "op %d attempt %d", op, k)
			if present {
				require.NoError(t, lerr, "op %d: delete of %v failed with %v but the item is gone", op, testKey(i), err)
			} else {
				require.ErrorIs(t, lerr, ErrNotFound, "op %d: insert of %v failed with %v but the item is there (%d bytes)", op, testKey(i), err, len(got))
			}
		}
		if present {
			delete(m, i)
		} else {
			m[i] = d
		}
		if op%25 == 0 {
			require.NoError(t, Verify(h.root), "after op %d", op)
		}
	}
	st := h.root.Stats()
	t.Logf("%d operations, %d ENOSPC failures on the way; %s", len(order), failures, st)
	require.NotZero(t, st.LeafMerges+st.LeafRemovals)
	m.check(t, h.root)
	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root))
	m.check(t, h.root)
}

// TestPinSearchBreaksTheLoop: the loop's scenario (4-node budget, 6 blocks
// held by others, kernel restarts) under pin-search. The copies a search
// makes stay dirty and unwritten until it returns, so no restart finds
// its own copy WRITTEN: every position is COWed at most once per search,
// and the create completes within its reservation.
func TestPinSearchBreaksTheLoop(t *testing.T) {
	sc := ampScenario{budgetNodes: cache.MinBudgetNodes, pressure: 6, hold: -1, reserve: ampReserve, policy: PolicyPinSearch}
	r := runAmpScenario(t, sc)
	require.NoError(t, r.err, "the create completes")
	require.Equal(t, 4, r.inserted)
	st := r.st
	require.LessOrEqual(t, st.MaxSearchCOWs, uint64(r.height), "at most one COW per level in one search")
	require.Positive(t, st.Restarts[RestartNotCached], "the search still restarts: the cache is as small")
	require.Less(t, r.charged, ampReserve, "within the reservation")
	t.Logf("pin-search: 4 items, COWs %d (by level %v), re-COWs %d (across searches), max COWs in one search %d, restarts %d, charged %d of %d, cache over budget %d times",
		st.TotalCOWs(), trim(st.COWs[:]), st.TotalReCOWs(), st.MaxSearchCOWs, st.TotalRestarts(), r.charged, ampReserve, r.cs.OverBudget)
}

// TestPinHandle: the same scenario under pin-handle. The handle (the
// create) keeps every copy it makes unwritten until it ends, so no block
// is COWed twice in it: no re-COW at all, across its searches too.
func TestPinHandle(t *testing.T) {
	sc := ampScenario{budgetNodes: cache.MinBudgetNodes, pressure: 6, hold: -1, reserve: ampReserve, policy: PolicyPinHandle}
	r := runAmpScenario(t, sc)
	require.NoError(t, r.err)
	require.Equal(t, 4, r.inserted)
	require.Zero(t, r.st.TotalReCOWs(), "nothing this handle copied is copied again")
	require.LessOrEqual(t, r.st.MaxSearchCOWs, uint64(r.height))
	require.Less(t, r.charged, ampReserve)
	t.Logf("pin-handle: 4 items, COWs %d (by level %v), re-COWs 0, max COWs in one search %d, restarts %d, charged %d of %d, cache over budget %d times",
		r.st.TotalCOWs(), trim(r.st.COWs[:]), r.st.MaxSearchCOWs, r.st.TotalRestarts(), r.charged, ampReserve, r.cs.OverBudget)
}

// TestOverwriteBreaksTheLoop runs the loop's scenario under the overwrite
// policies: a copy written back during a restart is rewritten in place the
// next time the search meets it, so nothing is COWed twice. Restarts are
// bounded (HoldReadsAfter 8): with the kernel's unbounded restarts (-1)
// nothing ends the search under overwrite — no COW charges the reservation,
// and the written copy is evicted and read again by every restart — and
// the run did not finish in 10 minutes.
func TestOverwriteBreaksTheLoop(t *testing.T) {
	for _, p := range []Policy{PolicyOverwrite, PolicyOverwritePin, PolicyBounce} {
		t.Run(p.String(), func(t *testing.T) {
			sc := ampScenario{budgetNodes: cache.MinBudgetNodes, pressure: 6, hold: 8, reserve: ampReserve, policy: p}
			r := runAmpScenario(t, sc)
			require.NoError(t, r.err)
			require.Equal(t, 4, r.inserted)
			require.Zero(t, r.st.TotalReCOWs(), "a written copy is rewritten, not copied")
			require.NotZero(t, r.st.TotalOverwrites(), "reclaim wrote copies the search met again")
			require.LessOrEqual(t, r.st.MaxSearchCOWs, uint64(r.height))
			t.Logf("%s: 4 items, COWs %d, re-COWs 0, overwrites %d (by level %v), restarts %d, charged %d of %d",
				p, r.st.TotalCOWs(), r.st.TotalOverwrites(), trim(r.st.Overwrites[:]), r.st.TotalRestarts(), r.charged, ampReserve)
		})
	}
}
