package ctree

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
)

// overwriteFamily lists the policies that rewrite blocks in place.
var overwriteFamily = []Policy{PolicyOverwrite, PolicyOverwritePin, PolicyBounce,
	PolicyOverwriteNoWBCheck, PolicyOverwriteNoRedirty}

func TestPolicyNames(t *testing.T) {
	require.Equal(t, []string{"always", "pin-search", "pin-handle", "overwrite", "overwrite+pin", "bounce"}, PolicyNames())
	require.Equal(t, []string{"overwrite-no-wb-check", "overwrite-no-redirty"}, UnsafePolicyNames())
	for p := range numPolicies {
		got, err := ParsePolicy(p.String())
		require.NoError(t, err)
		require.Equal(t, p, got)
		require.Equal(t, slices.Contains(UnsafePolicyNames(), p.String()), p.Unsafe())
	}
	require.Equal(t, cache.IOBounce, PolicyBounce.WritebackIO())
	require.Equal(t, cache.IOUnlocked, PolicyOverwriteNoWBCheck.WritebackIO())
	require.Equal(t, cache.IOLocked, PolicyOverwrite.WritebackIO())
}

// writtenPath builds a committed tree, COWs the path to key 100 in a new
// transaction and writes it back inside that transaction (as reclaim
// would): the path's blocks are the running transaction's and WRITTEN.
func writtenPath(t *testing.T, h *harness) model {
	t.Helper()
	m := buildTree(t, h, 2000)
	require.Equal(t, uint64(h.root.Level()+1), cowSearch(t, h, 100).TotalCOWs())
	require.NoError(t, h.c.FlushAll(cache.CauseReclaim))
	return m
}

// TestOverwriteRewritesInPlace: a COW search over a WRITTEN path of the
// running transaction re-COWs every level under always; the overwrite
// policies COW nothing and re-dirty the leaf (the only level the search
// write-locks), once per write. Then an update through the path reaches
// the disk.
func TestOverwriteRewritesInPlace(t *testing.T) {
	for _, p := range append([]Policy{PolicyAlways}, overwriteFamily...) {
		t.Run(p.String(), func(t *testing.T) {
			h := newHarness(t, 64<<20, 4096, 64<<20)
			h.setPolicy(t, p)
			m := writtenPath(t, h)
			height := uint64(h.root.Level() + 1)
			d := cowSearch(t, h, 100)
			if p == PolicyAlways {
				require.Equal(t, height, d.TotalReCOWs())
				require.Zero(t, d.TotalOverwrites())
			} else {
				require.Zero(t, d.TotalCOWs())
				require.Equal(t, [format.MaxLevel]uint64{1}, d.Overwrites)
				require.Zero(t, cowSearch(t, h, 100).TotalOverwrites(), "dirty again: not counted twice")
			}
			m[100] = testData(100, 2, 40)
			require.NoError(t, updateItemForTest(h, testKey(100), m[100]))
			h.reopen(t, 64<<20)
			require.NoError(t, Verify(h.root))
			m.check(t, h.root)
		})
	}
}

// updateItemForTest overwrites the data of an existing item in place
// through a COW search, as callers of Path.ItemData do.
func updateItemForTest(h *harness, k format.Key, data []byte) error {
	var p Path
	found, err := SearchSlot(h.tt, h.root, k, &p, 0, true)
	if err != nil {
		return err
	}
	defer p.Release()
	if !found {
		return fmt.Errorf("key %v: %w", k, ErrNotFound)
	}
	copy(p.ItemData(), data)
	return nil
}

// TestOverwriteExceptions: the blocks overwrite must still COW — a root that
// forces COW, a log tree, a zoned device, a block whose last write failed.
func TestOverwriteExceptions(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, h *harness)
	}{
		{"force-cow", func(t *testing.T, h *harness) { h.root.ForceCOW.Store(true) }},
		{"zoned", func(t *testing.T, h *harness) { h.root.env.Options.Zoned = true }},
	}
	for _, p := range []Policy{PolicyOverwrite, PolicyOverwritePin, PolicyBounce} {
		for _, c := range cases {
			t.Run(p.String()+"/"+c.name, func(t *testing.T) {
				h := newHarness(t, 64<<20, 4096, 64<<20)
				h.setPolicy(t, p)
				writtenPath(t, h)
				c.setup(t, h)
				d := cowSearch(t, h, 100)
				require.Equal(t, uint64(h.root.Level()+1), d.TotalReCOWs())
				require.Zero(t, d.TotalOverwrites())
				h.root.ForceCOW.Store(false)
				requirePinnedUntilHandleEnds(t, h, p == PolicyOverwritePin && c.name == "zoned")
			})
		}
	}
}

// requirePinnedUntilHandleEnds checks whether the copies a handle made
// are pinned against writeback (overwrite+pin where overwrite cannot be
// used) until the handle ends.
func requirePinnedUntilHandleEnds(t *testing.T, h *harness, pinned bool) {
	t.Helper()
	err := h.c.FlushAll(cache.CauseCommit)
	if !pinned {
		require.NoError(t, err)
		return
	}
	require.ErrorIs(t, err, cache.ErrWritebackBlocked)
	h.tt.endHandle()
	require.NoError(t, h.c.FlushAll(cache.CauseCommit))
}

// TestOverwriteLogTree: a tree flagged as a log tree (its id is
// TREE_LOG_OBJECTID) is never overwritten; overwrite+pin pins its copies
// with the handle instead.
func TestOverwriteLogTree(t *testing.T) {
	for _, p := range []Policy{PolicyOverwrite, PolicyOverwritePin, PolicyBounce} {
		t.Run(p.String(), func(t *testing.T) {
			h := newHarness(t, 64<<20, 4096, 64<<20)
			h.setPolicy(t, p)
			log, err := CreateRoot(h.tt, h.root.env, format.TreeLogObjectID)
			require.NoError(t, err)
			t.Cleanup(log.Close)
			require.True(t, log.IsLog())
			require.False(t, h.root.IsLog())
			require.NoError(t, InsertItem(h.tt, log, testKey(1), []byte("log")))
			require.NoError(t, h.tt.commit(h.c))
			require.NoError(t, InsertItem(h.tt, log, testKey(2), []byte("log")))
			requirePinnedUntilHandleEnds(t, h, p == PolicyOverwritePin)
			before := log.Stats()
			require.NoError(t, InsertItem(h.tt, log, testKey(3), []byte("log")))
			d := log.Stats().Sub(before)
			require.Equal(t, uint64(1), d.TotalReCOWs(), "the WRITTEN log leaf is COWed")
			require.Zero(t, d.TotalOverwrites())
			requirePinnedUntilHandleEnds(t, h, p == PolicyOverwritePin)
		})
	}
}

// TestOverwriteAfterWriteError: a block whose last write failed is COWed
// (its bytes exist only in memory).
func TestOverwriteAfterWriteError(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	h.setPolicy(t, PolicyOverwrite)
	buildTree(t, h, 2000)
	fd := disk.NewFaultDevice(h.img.dev)
	h.img.io = fd
	h.reopen(t, 64<<20)
	require.Equal(t, uint64(h.root.Level()+1), cowSearch(t, h, 100).TotalCOWs())
	fd.Arm(disk.FaultRule{Ops: disk.OpWrites, Kinds: []disk.Kind{disk.KindMeta}})
	require.Error(t, h.c.FlushAll(cache.CauseReclaim))
	d := cowSearch(t, h, 100)
	require.Equal(t, uint64(h.root.Level()+1), d.TotalReCOWs(), "WRITE_ERR blocks are COWed")
	require.Zero(t, d.TotalOverwrites())
}

// midWrite reopens h's tree with a cache over a disk.MidWriteDevice that
// writes every block alone (no merged staging copy) in writeback I/O mode
// io, COWs the path to key k in the new transaction and writes it back: it
// returns the device and the leaf, WRITTEN, of the running transaction.
func midWrite(t *testing.T, h *harness, k int, io cache.WritebackIO) (*disk.MidWriteDevice, uint64) {
	t.Helper()
	mid := disk.NewMidWriteDevice(h.img.dev)
	h.img.io = mid
	h.img.tune = func(o *cache.Options) { o.IO, o.WritebackMaxIO = io, int64(h.img.res.NodeSize) }
	h.reopen(t, 64<<20)
	cowSearch(t, h, k)
	require.NoError(t, h.c.FlushAll(cache.CauseReclaim))
	return mid, leafOf(t, h, k)
}

// leafOf is the address of the leaf holding key k.
func leafOf(t *testing.T, h *harness, k int) uint64 {
	t.Helper()
	var p Path
	_, err := SearchSlot(nil, h.root, testKey(k), &p, 0, false)
	require.NoError(t, err)
	defer p.Release()
	return p.Node(0).Bytenr
}

// TestUnsafeNoWBCheckTearsBlock reproduces Sun's first failure: on the
// kernel's writeback (the lock is released during the I/O), an update of
// a leaf whose write is in flight. overwrite-no-wb-check rewrites it in
// place: half of the old bytes and half of the new reach the disk under
// the old checksum, and the read-time checker refuses the block. overwrite
// finds it under writeback and COWs it; bounce rewrites it in place while
// the I/O writes a snapshot. Both leave the on-disk block whole, and the
// update reaches the disk with the next commit.
func TestUnsafeNoWBCheckTearsBlock(t *testing.T) {
	for _, c := range []struct {
		p  Policy
		io cache.WritebackIO
	}{{PolicyOverwriteNoWBCheck, cache.IOUnlocked}, {PolicyOverwrite, cache.IOUnlocked}, {PolicyBounce, cache.IOBounce}} {
		t.Run(fmt.Sprintf("%s/%s", c.p, c.io), func(t *testing.T) {
			h := newHarness(t, 64<<20, 4096, 64<<20)
			h.setPolicy(t, c.p)
			m := buildTree(t, h, 2000)
			mid, leaf := midWrite(t, h, 100, c.io)
			m[100] = testData(100, 9, 40)
			var st Stats
			phys, err := h.img.cmap.Physical(leaf, uint64(h.img.res.NodeSize))
			require.NoError(t, err)
			var updErr error
			mid.OnNextWrite(phys, func() { // on a writeback goroutine: no require here
				before := h.root.Stats()
				updErr = updateItemForTest(h, testKey(100), m[100])
				st = h.root.Stats().Sub(before)
			})
			cowSearch(t, h, 100)
			require.NoError(t, h.c.FlushAll(cache.CauseReclaim), "the write itself succeeds")
			require.NoError(t, updErr, "the update inside the write")
			require.NotZero(t, st.Searches, "the update ran inside the leaf's write")
			onDisk := readPhys(t, h, leaf)
			err = checker.CheckBlock(onDisk, h.img.ctx, checker.ExpectAt(leaf))
			if c.p == PolicyOverwriteNoWBCheck {
				require.Equal(t, [format.MaxLevel]uint64{1}, st.Overwrites, "rewritten in place while in flight")
				var ce *checker.Error
				require.ErrorAs(t, err, &ce, "the torn block is caught by the read-time checker")
				require.ErrorIs(t, err, format.ErrCorrupt)
				t.Logf("read-time checker: %v", err)
				return
			}
			require.NoError(t, err, "the block on disk is whole")
			if c.p == PolicyOverwrite {
				require.Equal(t, uint64(1), st.TotalReCOWs(), "under writeback: COWed")
			} else {
				require.Equal(t, [format.MaxLevel]uint64{1}, st.Overwrites)
			}
			h.reopen(t, 64<<20)
			require.NoError(t, Verify(h.root))
			m.check(t, h.root)
		})
	}
}

// readPhys reads the block at logical bytenr from the image device.
func readPhys(t *testing.T, h *harness, bytenr uint64) []byte {
	t.Helper()
	ns := uint64(h.img.res.NodeSize)
	off, err := h.img.cmap.Physical(bytenr, ns)
	require.NoError(t, err)
	b := make([]byte, ns)
	require.NoError(t, h.img.dev.ReadAt(b, off, disk.KindMeta))
	return b
}

// dropWritten takes the blocks that are no longer dirty out of the dirty
// set: the kernel's set, which a block leaves when it is first written
// (THREAD.md, Sun's second failure).
func (tt *testTrans) dropWritten(c *cache.Cache) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	for b := range tt.dirty {
		if eb := c.Find(b); eb == nil || !eb.Has(cache.Dirty) {
			delete(tt.dirty, b)
			if eb != nil {
				c.Release(eb)
			}
		} else {
			c.Release(eb)
		}
	}
}

// commitDirtySet commits by writing the dirty set only, as
// transaction.FS does.
func (tt *testTrans) commitDirtySet(c *cache.Cache) error {
	tt.mu.Lock()
	var ebs []*cache.ExtentBuffer
	for b := range tt.dirty {
		if eb := c.Find(b); eb != nil {
			ebs = append(ebs, eb)
		}
	}
	tt.mu.Unlock()
	err := c.WriteDirty(ebs, cache.CauseCommit)
	for _, eb := range ebs {
		c.Release(eb)
	}
	if err != nil {
		return err
	}
	tt.end(c)
	return nil
}

// TestUnsafeNoRedirtyWritesLate reproduces Sun's second failure: a block
// written inside its transaction leaves the dirty set (dropWritten), is
// rewritten in place, and the commit writes the dirty set. Under
// overwrite-no-redirty it is not in the set: it stays dirty past the
// commit, and its write in the next transaction is refused by the
// write-time checker ("bad generation, have T expect > T"). Under
// overwrite it is back in the set and the commit writes it.
func TestUnsafeNoRedirtyWritesLate(t *testing.T) {
	for _, p := range []Policy{PolicyOverwriteNoRedirty, PolicyOverwrite} {
		t.Run(p.String(), func(t *testing.T) {
			h := newHarness(t, 64<<20, 4096, 64<<20)
			h.setPolicy(t, p)
			m := writtenPath(t, h)
			h.tt.dropWritten(h.c)
			require.Empty(t, h.tt.dirty)
			m[100] = testData(100, 3, 40)
			require.NoError(t, updateItemForTest(h, testKey(100), m[100]))
			transid := h.tt.Transid()
			leaf := leafOf(t, h, 100)
			late := lateWrite(t, h, leaf)
			if p == PolicyOverwrite {
				require.NoError(t, late)
				h.reopen(t, 64<<20)
				m.check(t, h.root)
				return
			}
			var ce *checker.Error
			require.ErrorAs(t, late, &ce)
			require.Equal(t, checker.RuleWriteGen, ce.Rule)
			want := fmt.Sprintf("block=%d, bad generation, have %d expect > %d", leaf, transid, transid)
			require.True(t, strings.Contains(late.Error(), want), "%v\nwant %q", late, want)
			require.True(t, errors.Is(late, cache.ErrWriteFailed) || errors.Is(late, format.ErrCorrupt), "%v", late)
			t.Logf("write-time checker: %v", late)
		})
	}
}

// lateWrite commits the dirty set, then writes whatever is still dirty
// in the next transaction (as its reclaim would).
func lateWrite(t *testing.T, h *harness, leaf uint64) error {
	t.Helper()
	require.NoError(t, h.tt.commitDirtySet(h.c))
	return h.c.FlushAll(cache.CauseReclaim)
}

// TestZonedDevice: on an emulated zoned device (disk.ZonedDevice) a tree
// block written inside its transaction cannot be rewritten in place. An
// overwrite policy told the device is zoned (Options.Zoned, which
// transaction.Open sets from disk.IsZoned) COWs it instead and the
// writeback succeeds; one that is not told rewrites it and the device
// refuses the write.
func TestZonedDevice(t *testing.T) {
	for _, told := range []bool{true, false} {
		t.Run(fmt.Sprintf("zoned-option=%v", told), func(t *testing.T) {
			h := newHarness(t, 64<<20, 4096, 64<<20)
			h.setPolicy(t, PolicyOverwrite)
			h.img.io = disk.NewZonedDevice(h.img.dev, int64(h.img.res.NodeSize))
			h.reopen(t, 64<<20)
			h.root.env.Options.Zoned = told
			writtenPath(t, h)
			d := cowSearch(t, h, 100)
			err := h.c.FlushAll(cache.CauseReclaim)
			if told {
				require.Equal(t, uint64(h.root.Level()+1), d.TotalCOWs())
				require.NoError(t, err)
				return
			}
			require.Equal(t, [format.MaxLevel]uint64{1}, d.Overwrites)
			require.ErrorIs(t, err, disk.ErrZonedRewrite)
		})
	}
}
