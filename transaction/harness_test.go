package transaction

// Test harness of the delayed-ref runner: a real btrfs image made by mkfs
// on a memory device, its extent tree opened from the root tree's
// ROOT_ITEM, and refTrans, a ctree.Trans over the image's METADATA chunk.
// Also: reading kernel-written images (cache + ctree over the file), and the
// external tools the oracle tests need (skipped loudly without them, failed
// under CI).

import (
	"cowfs/testmount"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/alloc"
	"cowfs/cache"
	"cowfs/checker"
	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

var refsSeedFlag = flag.Uint64("refs.seed", 0, "seed of the randomized delayed-ref tests (0: time-based)")

// refsSeed returns the seed of a randomized test and logs how to rerun it.
func refsSeed(t *testing.T) uint64 {
	seed := *refsSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun: go test ./transaction -run '^%s$' -refs.seed=%d)", seed, t.Name(), seed)
	return seed
}

// refImage is a mkfs image with its extent tree open.
type refImage struct {
	dev    *disk.MemDevice
	res    *mkfs.Result
	c      *cache.Cache
	env    *ctree.Env
	meta   mkfs.Chunk // the METADATA chunk
	data   mkfs.Chunk // the DATA chunk
	tt     *refTrans
	acct   *acctLog
	extent *ctree.Root
}

func newRefImage(t *testing.T, nodesize uint32) *refImage {
	t.Helper()
	img := &refImage{dev: disk.NewMemDevice(256 << 20), acct: &acctLog{}}
	o := mkfs.DefaultOptions()
	o.NodeSize = nodesize
	res, err := mkfs.Make(img.dev, o)
	require.NoError(t, err)
	img.res = res
	cmap, err := disk.ChunkMapFromSuper(res.Super)
	require.NoError(t, err)
	ctx := checker.ContextFromSuper(res.Super)
	ctx.SuperGeneration = 0 // the tests write generations beyond the superblock's
	for _, c := range res.Chunks {
		switch {
		case c.Type&format.BlockGroupSystem != 0:
			continue
		case c.Type&format.BlockGroupMetadata != 0:
			img.meta = c
		case c.Type&format.BlockGroupData != 0:
			img.data = c
		}
		require.NoError(t, cmap.Insert(c.Logical, &format.ChunkItem{Length: c.Length,
			Owner: format.ExtentTreeObjectID, StripeLen: 64 << 10, Type: c.Type,
			IOAlign: res.SectorSize, IOWidth: res.SectorSize, SectorSize: res.SectorSize,
			NumStripes: 1, Stripes: []format.Stripe{{DevID: 1, Offset: c.Physical}}}))
	}
	require.NotZero(t, img.meta.Length, "no METADATA chunk")
	require.NotZero(t, img.data.Length, "no DATA chunk")
	co := cache.DefaultOptions()
	co.Budget, co.DirtyThreshold, co.FlushInterval = 1<<30, 1<<62, 0
	img.c, err = cache.New(img.dev, cmap, ctx, co)
	require.NoError(t, err)
	t.Cleanup(func() { _ = img.c.Close() })
	img.env = &ctree.Env{Cache: img.c, Ctx: ctx, ChunkTreeUUID: res.ChunkUUID, Options: ctree.DefaultOptions()}
	img.tt = newRefTrans(img)
	img.extent = openTree(t, img.env, res.Super, format.ExtentTreeObjectID)
	return img
}

// openTree opens tree id from its ROOT_ITEM in the root tree of super.
func openTree(t *testing.T, env *ctree.Env, super *format.Super, id uint64) *ctree.Root {
	t.Helper()
	rt, err := ctree.OpenRoot(env, format.RootTreeObjectID, super.Root, int(super.RootLevel), super.Generation)
	require.NoError(t, err)
	defer rt.Close()
	b, err := ctree.Lookup(rt, format.Key{ObjectID: id, Type: format.RootItemKey})
	require.NoError(t, err, "ROOT_ITEM of tree %d", id)
	ri, err := format.DecodeRootItem(b)
	require.NoError(t, err)
	root, err := ctree.OpenRoot(env, id, ri.Bytenr, int(ri.Level), ri.Generation)
	require.NoError(t, err)
	t.Cleanup(root.Close)
	return root
}

// run queues mods, takes the heads and applies them in the running
// transaction.
func (img *refImage) run(mods ...alloc.RefMod) error {
	d := alloc.NewDelayedRefs()
	for _, m := range mods {
		d.Add(m)
	}
	return img.runHeads(d.Take())
}

func (img *refImage) runHeads(heads []*alloc.RefHead) error {
	return runRefHeads(img.tt, img.extent, img.acct, heads, img.tt.Transid())
}

// items returns the extent items and keyed backrefs of bytenr.
func (img *refImage) items(t *testing.T, bytenr uint64) []ctree.Item {
	t.Helper()
	return scanItems(t, img.extent, format.Key{ObjectID: bytenr, Type: format.ExtentItemKey},
		format.Key{ObjectID: bytenr, Type: format.SharedDataRefKey + 1})
}

// all returns every item of the extent tree.
func (img *refImage) all(t *testing.T) []ctree.Item {
	t.Helper()
	return scanItems(t, img.extent, format.Key{}, ctree.MaxKey)
}

func scanItems(t *testing.T, root *ctree.Root, start, end format.Key) []ctree.Item {
	t.Helper()
	var out []ctree.Item
	it := root.Scan(start, end)
	for it.Next() {
		out = append(out, it.Item())
	}
	require.NoError(t, it.Err())
	return out
}

// commit writes every dirty block (the write-time checker runs on each),
// verifies the extent tree, and starts the next transaction.
func (img *refImage) commit(t *testing.T) {
	t.Helper()
	require.NoError(t, ctree.Verify(img.extent))
	require.NoError(t, img.c.FlushAll(cache.CauseCommit))
	img.tt.commit(img.c)
}

// refTrans is a ctree.Trans over the image's METADATA chunk: blocks in
// address order, skipping the blocks of mkfs's trees and the superblock
// mirror; a freed block is free again after the next commit.
type refTrans struct {
	mu      sync.Mutex
	transid uint64
	free    []uint64
	pinned  []uint64
}

func newRefTrans(img *refImage) *refTrans {
	tt := &refTrans{transid: img.res.Generation + 1}
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

var errRefTransNoSpace = errors.New("test allocator: no space")

func (tt *refTrans) Transid() uint64 {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return tt.transid
}

func (tt *refTrans) Charge(owner uint64, level int) error { return nil }

func (tt *refTrans) AllocBlock(owner uint64, level int) (uint64, error) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if len(tt.free) == 0 {
		return 0, errRefTransNoSpace
	}
	b := tt.free[0]
	tt.free = tt.free[1:]
	return b, nil
}

func (tt *refTrans) FreeBlock(owner uint64, eb *cache.ExtentBuffer) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.pinned = append(tt.pinned, eb.Bytenr)
}

func (tt *refTrans) AddDirty(eb *cache.ExtentBuffer) {}

func (tt *refTrans) PinUntilEnd(eb *cache.ExtentBuffer) {} // never runs pin-handle

func (tt *refTrans) commit(c *cache.Cache) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	c.SetLastCommitted(tt.transid)
	tt.transid++
	slices.Sort(tt.pinned)
	tt.free = append(tt.free, tt.pinned...)
	tt.pinned = nil
}

// acctLog records the accounting calls of the runner.
type acctLog struct {
	mu     sync.Mutex
	events []acctEvent
}

type acctEvent struct {
	inserted bool
	bytenr   uint64
	numBytes uint64
	data     bool
}

func (a *acctLog) ExtentInserted(bytenr, numBytes uint64, data bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, acctEvent{true, bytenr, numBytes, data})
}

func (a *acctLog) ExtentDeleted(bytenr, numBytes uint64, data bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, acctEvent{false, bytenr, numBytes, data})
}

// take returns and clears the events recorded.
func (a *acctLog) take() []acctEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	ev := a.events
	a.events = nil
	return ev
}

// kernelImage is an image file written by the kernel, opened read-only:
// its chunk map comes from the sys_chunk_array and the chunk tree.
type kernelImage struct {
	super *format.Super
	env   *ctree.Env
}

func openKernelImage(t *testing.T, path string) *kernelImage {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true, Buffered: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = dev.Close() })
	super, err := checker.ReadSuper(dev)
	require.NoError(t, err)
	cmap, err := disk.ChunkMapFromSuper(super)
	require.NoError(t, err)
	ctx := checker.ContextFromSuper(super)
	ctx.ReadOnly = true
	co := cache.DefaultOptions()
	co.Budget, co.DirtyThreshold, co.FlushInterval = 1<<30, 1<<62, 0
	c, err := cache.New(dev, cmap, ctx, co)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	env := &ctree.Env{Cache: c, Ctx: ctx, Options: ctree.DefaultOptions()}
	chunks, err := ctree.OpenRoot(env, format.ChunkTreeObjectID, super.ChunkRoot, int(super.ChunkRootLevel), super.ChunkRootGeneration)
	require.NoError(t, err)
	defer chunks.Close()
	for _, it := range scanItems(t, chunks, format.Key{}, ctree.MaxKey) {
		if it.Key.Type != format.ChunkItemKey {
			continue
		}
		ci, err := format.DecodeChunkItem(it.Data)
		require.NoError(t, err)
		if start, old, ok := cmap.Lookup(it.Key.Offset); ok && start == it.Key.Offset && old.Length == ci.Length {
			continue
		}
		require.NoError(t, cmap.Insert(it.Key.Offset, ci))
	}
	return &kernelImage{super: super, env: env}
}

func (k *kernelImage) tree(t *testing.T, id uint64) *ctree.Root {
	t.Helper()
	return openTree(t, k.env, k.super, id)
}

// oracle skips t loudly unless root and btrfs-progs are available for loop
// mounts; under CI (CI set) it fails instead.
func oracle(t *testing.T) {
	t.Helper()
	why := ""
	for _, tool := range []string{"mkfs.btrfs", "btrfs", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			why = tool + " not installed (apt-get install btrfs-progs)"
		}
	}
	if why == "" && os.Geteuid() != 0 {
		why = fmt.Sprintf("loop mounts need root (running as uid %d)", os.Geteuid())
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but the kernel oracle test cannot run: %s", why)
	}
	t.Skipf("SKIP: kernel oracle: %s", why)
}

// sh runs a command and fails t with its output on error.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

// kernelMkfs makes an image file with mkfs.btrfs (the minimal options of
// btrfs-format.md §1.1 and the given nodesize) and returns its path.
func kernelMkfs(t *testing.T, nodesize uint32) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(256<<20))
	require.NoError(t, f.Close())
	sh(t, "mkfs.btrfs", "-f", "-q", "-n", fmt.Sprint(nodesize), "-m", "single", "-d", "single",
		"-R", "^free-space-tree", path)
	return path
}

// mounted loop-mounts img, runs fill on the mount point and unmounts.
func mounted(t *testing.T, img string, fill func(dir string)) {
	t.Helper()
	dir := t.TempDir()
	sh(t, "mount", "-o", "loop", img, dir)
	defer func() {
		if err := testmount.Unmount(dir); err != nil {
			_ = exec.Command("umount", "-l", dir).Run()
			t.Error(err)
		}
	}()
	fill(dir)
	require.NoError(t, testmount.Sync(dir))
}
