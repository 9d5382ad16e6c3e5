package cache

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
)

// TestWritebackIOModes puts a writer in the middle of a leaf's write
// (disk.MidWriteDevice) under each writeback I/O mode: locked, the writer
// cannot take the lock; unlocked, it can, and a change it makes tears the
// block on disk (which is why writers must leave a block under writeback
// alone); bounce, it can change and re-dirty the block, the disk gets the
// checked snapshot, and the next writeback the change.
func TestWritebackIOModes(t *testing.T) {
	for _, mode := range []WritebackIO{IOLocked, IOUnlocked, IOBounce} {
		t.Run(mode.String(), func(t *testing.T) { testWritebackIOMode(t, mode) })
	}
}

func testWritebackIOMode(t *testing.T, mode WritebackIO) {
	im := memImage(t)
	phys, err := im.cmap.Physical(im.free(0), im.ns)
	require.NoError(t, err)
	mid := disk.NewMidWriteDevice(im.dev)
	opts := im.testOptions(64)
	opts.IO, opts.WritebackDepth = mode, 1
	c, log := im.open(t, mid, opts)
	eb := im.newLeaf(t, c, im.free(0), 2)
	defer c.Release(eb)
	eb.Lock()
	stamp(t, eb, 1)
	eb.Unlock()
	var locked, underWB bool
	mid.OnNextWrite(phys, func() {
		if locked = eb.TryLock(); !locked {
			return
		}
		underWB = eb.Has(Writeback)
		stamp(t, eb, 2)
		if mode == IOBounce {
			c.MarkDirty(eb, 2)
		}
		eb.Unlock()
	})
	require.NoError(t, c.FlushAll(CauseCommit))
	require.Empty(t, log.String())
	require.Equal(t, mode != IOLocked, locked, "can a writer lock a block in flight")
	require.Equal(t, mode != IOLocked, underWB, "WRITEBACK seen by the writer")
	onDisk := im.onDisk(t, im.free(0))
	switch mode {
	case IOLocked:
		require.Equal(t, uint64(1), stampOf(t, im.requireWritten(t, im.free(0))))
	case IOUnlocked:
		require.False(t, im.ctx.CsumType.VerifyBlockCsum(onDisk), "a change in flight tears the block")
	case IOBounce:
		require.Equal(t, uint64(1), stampOf(t, im.requireWritten(t, im.free(0))), "the snapshot is written")
		require.True(t, eb.Has(Dirty))
		require.NoError(t, c.FlushAll(CauseCommit))
		require.Equal(t, uint64(2), stampOf(t, im.requireWritten(t, im.free(0))), "then the change")
	}
}

func TestParseWritebackIO(t *testing.T) {
	for m := range numWritebackIO {
		got, err := ParseWritebackIO(m.String())
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	_, err := ParseWritebackIO("copy")
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.ErrorIs(t, Options{Budget: 1 << 20, IO: numWritebackIO}.Validate(4096), ErrInvalidOptions)
}
