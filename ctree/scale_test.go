package ctree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

var (
	scaleSeedFlag = flag.Uint64("ctree.seed", 0, "seed of TestModelScale and TestStress (0: -seed, else time-based)")
	scaleOpsFlag  = flag.Int("ctree.ops", 0, "operations of TestModelScale (0: 200000, 60000 under -race; e.g. 5000000)")
	scaleKeysFlag = flag.Int("ctree.keys", 0, "key space of TestModelScale (0: 20000, or ops/10 above 200000 operations)")
	scaleMiBFlag  = flag.Int64("ctree.budget", 3, "cache budget of TestModelScale in MiB")
)

// ctreeSeed returns the seed of a randomized test (-ctree.seed, else -seed,
// else the time) and logs how to rerun with it.
func ctreeSeed(t *testing.T) uint64 {
	seed := *scaleSeedFlag
	if seed == 0 {
		seed = *seedFlag
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun: go test ./ctree -run '^%s$' -ctree.seed=%d)", seed, t.Name(), seed)
	return seed
}

// newBigImage is newImage for tests and benchmarks that need more metadata
// space than mkfs's METADATA chunk (at most 256 MiB): the device's
// unallocated tail is mapped as one more METADATA chunk in the chunk map
// (as a chunk allocation would; the chunk tree is not updated, so the image
// is for ctree only) and its blocks are returned for the allocator. The
// superblock mirror at 64 MiB is left out.
func newBigImage(tb testing.TB, size int64, nodesize uint32) (*image, []uint64) {
	tb.Helper()
	dev := disk.NewMemDevice(size)
	o := mkfs.DefaultOptions()
	o.NodeSize = nodesize
	res, err := mkfs.Make(dev, o)
	require.NoError(tb, err)
	cmap, err := disk.ChunkMapFromSuper(res.Super)
	require.NoError(tb, err)
	img := &image{dev: dev, res: res, cmap: cmap, ctx: checker.ContextFromSuper(res.Super)}
	img.ctx.SuperGeneration = 0
	mapChunk := func(logical, length, typ uint64) {
		require.NoError(tb, cmap.Insert(logical, &format.ChunkItem{Length: length,
			Owner: format.ExtentTreeObjectID, StripeLen: 64 << 10, Type: typ,
			IOAlign: res.SectorSize, IOWidth: res.SectorSize, SectorSize: res.SectorSize,
			NumStripes: 1, Stripes: []format.Stripe{{DevID: 1, Offset: logical}}}))
	}
	end := uint64(0)
	for _, c := range res.Chunks {
		end = max(end, c.End())
		if c.Type&format.BlockGroupSystem != 0 {
			continue
		}
		mapChunk(c.Logical, c.Length, c.Type)
		if c.Type&format.BlockGroupMetadata != 0 {
			img.meta = c
		}
	}
	const mib = 1 << 20
	start := (end + mib - 1) / mib * mib
	stop := uint64(size) / mib * mib
	var extra []uint64
	if stop > start {
		mapChunk(start, stop-start, format.BlockGroupMetadata)
		ns := uint64(nodesize)
		const mirror, mirrorEnd = 64 << 20, 64<<20 + 4096
		for b := start; b+ns <= stop; b += ns {
			if b+ns <= mirror || b >= mirrorEnd {
				extra = append(extra, b)
			}
		}
	}
	return img, extra
}

// newScaleHarness is a harness over newBigImage: the test allocator gets
// the extra blocks after the METADATA chunk's.
func newScaleHarness(t *testing.T, size int64, nodesize uint32, budget int64) *harness {
	t.Helper()
	img, extra := newBigImage(t, size, nodesize)
	c := img.newCache(t, budget, 1<<62)
	tt := newTestTrans(img)
	tt.free = append(tt.free, extra...)
	root, err := CreateRoot(tt, img.env(c), testTreeID)
	require.NoError(t, err)
	t.Cleanup(root.Close)
	return &harness{img: img, c: c, tt: tt, root: root}
}

// scaleRun drives TestModelScale's operations against a map model.
type scaleRun struct {
	t    *testing.T
	h    *harness
	r    *rand.Rand
	m    model
	keys int
	ver  uint64
	n    [scaleNumOps]int // operations done, by kind
}

// Operation kinds of TestModelScale.
const (
	scaleInsert = iota
	scaleBatch
	scaleDelete
	scaleUpdate
	scaleResize
	scaleLookup
	scaleScan
	scaleNumOps
)

var scaleOpNames = [scaleNumOps]string{"insert", "batch-insert", "delete", "update", "resize", "lookup", "scan"}

func (s *scaleRun) step() {
	switch x := s.r.IntN(100); {
	case x < 38:
		s.insert()
	case x < 42:
		s.batch()
	case x < 62:
		s.delete()
	case x < 72:
		s.update()
	case x < 77:
		s.resize()
	case x < 95:
		s.lookup()
	default:
		s.scan()
	}
}

// key draws a key number: mostly uniform, sometimes near the top of the
// key space (appends, like new inodes).
func (s *scaleRun) key() int {
	if s.r.IntN(5) == 0 {
		return s.keys - 1 - s.r.IntN(min(s.keys, 2000))
	}
	return s.r.IntN(s.keys)
}

// data is deterministic content for key number i, version s.ver+1, made
// 8 bytes per random draw (testData draws per byte, which dominates the
// run time under -race).
func (s *scaleRun) data(i, size int) []byte {
	s.ver++
	r := rand.New(rand.NewPCG(uint64(i), s.ver))
	b := make([]byte, size+7)
	for j := 0; j < size; j += 8 {
		binary.LittleEndian.PutUint64(b[j:], r.Uint64())
	}
	return b[:size:size]
}

func (s *scaleRun) insert() {
	s.n[scaleInsert]++
	i := s.key()
	d := s.data(i, itemSize(s.r, s.h.c.NodeSize()))
	err := InsertItem(s.h.tt, s.h.root, testKey(i), d)
	if _, ok := s.m[i]; ok {
		if !(errors.Is(err, ErrExists)) {
			s.fail("insert of existing %v: %v", testKey(i), err)
		}
		return
	}
	s.noError(err, "insert %v (%d bytes)", testKey(i), len(d))
	s.m[i] = d
}

// batch inserts up to 8 consecutive missing keys in one InsertItems.
func (s *scaleRun) batch() {
	s.n[scaleBatch]++
	i := s.key()
	var keys []format.Key
	var datas [][]byte
	for j := i; j < s.keys && len(keys) < 2+s.r.IntN(7); j++ {
		if _, ok := s.m[j]; ok {
			break
		}
		keys, datas = append(keys, testKey(j)), append(datas, s.data(j, s.r.IntN(300)))
	}
	if len(keys) == 0 {
		return
	}
	s.noError(InsertItems(s.h.tt, s.h.root, keys, datas), "batch of %d at %v", len(keys), keys[0])
	for j, d := range datas {
		s.m[i+j] = d
	}
}

func (s *scaleRun) delete() {
	s.n[scaleDelete]++
	i := s.key()
	err := DeleteItem(s.h.tt, s.h.root, testKey(i))
	if _, ok := s.m[i]; !ok {
		if !(errors.Is(err, ErrNotFound)) {
			s.fail("delete of missing %v: %v", testKey(i), err)
		}
		return
	}
	s.noError(err, "delete %v", testKey(i))
	delete(s.m, i)
}

// update rewrites an item's bytes in place through a COW search.
func (s *scaleRun) update() {
	s.n[scaleUpdate]++
	i := s.key()
	var p Path
	defer p.Release()
	found, err := SearchSlot(s.h.tt, s.h.root, testKey(i), &p, 0, true)
	s.noError(err, "cow search %v", testKey(i))
	_, ok := s.m[i]
	if !(ok == found) {
		s.fail("cow search %v: found %t, model %t", testKey(i), found, ok)
	}
	if found {
		d := s.data(i, len(p.ItemData()))
		copy(p.ItemData(), d)
		s.m[i] = d
	}
}

// resize grows (ExtendItem) or shrinks (TruncateItem) an item.
func (s *scaleRun) resize() {
	s.n[scaleResize]++
	i := s.key()
	old, ok := s.m[i]
	var p Path
	defer p.Release()
	maxSize := int(format.MaxItemSize(s.h.c.NodeSize()))
	if !ok {
		err := TruncateItem(s.h.tt, s.h.root, &p, testKey(i), 0)
		if !(errors.Is(err, ErrNotFound)) {
			s.fail("truncate of missing %v: %v", testKey(i), err)
		}
		return
	}
	if len(old) > 0 && (s.r.IntN(2) == 0 || len(old) == maxSize) {
		size := s.r.IntN(len(old))
		s.noError(TruncateItem(s.h.tt, s.h.root, &p, testKey(i), uint32(size)), "truncate %v", testKey(i))
		s.m[i] = old[:size:size]
		return
	}
	add := 1 + s.r.IntN(min(maxSize-len(old), 500))
	s.noError(ExtendItem(s.h.tt, s.h.root, &p, testKey(i), uint32(add)), "extend %v by %d", testKey(i), add)
	d := p.ItemData()
	if !(bytes.Equal(old, d[:len(old)])) {
		s.fail("extend changed the data of %v", testKey(i))
	}
	if !(bytes.Equal(make([]byte, add), d[len(old):])) {
		s.fail("extension of %v not zeroed", testKey(i))
	}
	copy(d[len(old):], s.data(i, add))
	s.m[i] = append([]byte(nil), d...)
}

func (s *scaleRun) lookup() {
	s.n[scaleLookup]++
	i := s.key()
	got, err := Lookup(s.h.root, testKey(i))
	want, ok := s.m[i]
	if !ok {
		if !(errors.Is(err, ErrNotFound)) {
			s.fail("lookup of missing %v: %v", testKey(i), err)
		}
		return
	}
	s.noError(err, "lookup %v", testKey(i))
	if !(bytes.Equal(want, got)) {
		s.fail("lookup %v: data differs from the model", testKey(i))
	}
}

// scan checks a range scan of up to 150 key numbers against the model.
func (s *scaleRun) scan() {
	s.n[scaleScan]++
	a := s.key()
	b := min(a+1+s.r.IntN(150), s.keys)
	it := s.h.root.Scan(testKey(a), testKey(b))
	next := a
	for it.Next() {
		for ; next < b; next++ {
			if _, ok := s.m[next]; ok {
				break
			}
		}
		if !(next < b) {
			s.fail("scan [%d,%d): extra item %v", a, b, it.Item().Key)
		}
		if !(testKey(next) == it.Item().Key) {
			s.fail("scan [%d,%d): item %v, model %v", a, b, it.Item().Key, testKey(next))
		}
		if !(bytes.Equal(s.m[next], it.Item().Data)) {
			s.fail("scan [%d,%d): data of %v", a, b, it.Item().Key)
		}
		next++
	}
	s.noError(it.Err(), "scan [%d,%d)", a, b)
	for ; next < b; next++ {
		_, ok := s.m[next]
		if !(!ok) {
			s.fail("scan [%d,%d) missed %v", a, b, testKey(next))
		}
	}
}

// fail and noError fail the test; the checks call into testify only on
// failure (its per-call t.Helper would otherwise dominate the run time).
func (s *scaleRun) fail(format string, args ...any) {
	require.FailNow(s.t, fmt.Sprintf(format, args...))
}

func (s *scaleRun) noError(err error, format string, args ...any) {
	if err != nil {
		require.NoError(s.t, err, fmt.Sprintf(format, args...))
	}
}

// TestModelScale runs a seeded mix of inserts (single and batched),
// deletes, in-place updates, extends and truncates, lookups and range scans
// with item sizes from 0 to the maximum against a map model: 200k
// operations by default (60k under -race, which slows it ~20x; 20k with
// -short), -ctree.ops=5000000 (and -ctree.keys) for millions.
// A 3 MiB cache makes reclaim write back and evict under the operations;
// every other batch commits. The whole tree is verified after every batch;
// at the end it is flushed, read back by a fresh cache, verified again and
// compared with the model.
func TestModelScale(t *testing.T) {
	seed := ctreeSeed(t)
	ops := *scaleOpsFlag
	switch {
	case ops > 0:
	case testing.Short():
		ops = 20_000
	case scaleRaceBuild:
		ops = 60_000
	default:
		ops = 200_000
	}
	keys := *scaleKeysFlag
	if keys == 0 {
		keys = max(ops/10, 20_000)
	}
	// Room for ~70% of the keys at ~350 bytes each in half-full 4 KiB
	// leaves, plus blocks pinned between commits.
	size := max(int64(256<<20), int64(keys)*1100)
	h := newScaleHarness(t, size, 4096, *scaleMiBFlag<<20)
	s := &scaleRun{t: t, h: h, r: rand.New(rand.NewPCG(seed, 3)), m: model{}, keys: keys}
	batch := max(10_000, ops/100)
	start := time.Now()
	var verifyTime time.Duration
	for done, b := 0, 0; done < ops; b++ {
		n := min(batch, ops-done)
		for range n {
			s.step()
		}
		done += n
		v := time.Now()
		require.NoError(t, Verify(h.root), "after batch %d (%d operations)", b, done)
		verifyTime += time.Since(v)
		if b%2 == 1 {
			require.NoError(t, h.tt.commit(h.c))
		}
		if ops >= 1_000_000 && (b+1)%10 == 0 {
			t.Logf("%d operations, %d items, %d levels, %v", done, len(s.m), h.root.Level()+1, time.Since(start).Round(time.Second))
		}
	}
	elapsed := time.Since(start)
	st := h.root.Stats()
	t.Logf("%d operations on %d key numbers in %v (%v of it in Verify): %d items, %d levels", ops, keys,
		elapsed.Round(time.Millisecond), verifyTime.Round(time.Millisecond), len(s.m), h.root.Level()+1)
	for k, name := range scaleOpNames {
		t.Logf("  %-12s %d", name, s.n[k])
	}
	t.Logf("%s\ncache: %s", st, h.c.Stats())
	require.NotZero(t, st.LeafSplits)
	require.NotZero(t, st.LeafMerges+st.LeafRemovals)
	require.NotZero(t, st.TotalReCOWs(), "reclaim wrote back blocks of the running transaction")

	h.reopen(t, 64<<20)
	require.NoError(t, Verify(h.root), "read back by a fresh cache")
	s.m.check(t, h.root)
	t.Logf("read back and compared with the model in %v", time.Since(start)-elapsed)
}
