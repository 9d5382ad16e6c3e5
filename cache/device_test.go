package cache

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

// dupImage remaps the METADATA chunk as DUP: its second copy takes the
// DATA chunk's physical range, seeded with the first copy's bytes.
func dupImage(t *testing.T) (*image, *disk.MemDevice, int64) {
	t.Helper()
	im := memImage(t)
	mem := im.dev.(*disk.MemDevice)
	var data mkfs.Chunk
	m := disk.NewChunkMap()
	for _, c := range im.res.Chunks {
		switch {
		case c.Type&format.BlockGroupData != 0:
			data = c
		case c.Type&format.BlockGroupSystem != 0:
			require.NoError(t, m.Insert(c.Logical, chunkItem(c, c.Physical)))
		}
	}
	require.GreaterOrEqual(t, data.Length, im.meta.Length)
	require.NoError(t, m.Insert(im.meta.Logical, chunkItem(im.meta, im.meta.Physical, data.Physical)))
	b := mem.Bytes()
	copy(b[data.Physical:data.Physical+im.meta.Length], b[im.meta.Physical:im.meta.Physical+im.meta.Length])
	im.cmap = m
	return im, mem, int64(data.Physical) - int64(im.meta.Physical)
}

func chunkItem(c mkfs.Chunk, offsets ...uint64) *format.ChunkItem {
	ci := &format.ChunkItem{Length: c.Length, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen,
		Type: c.Type, SectorSize: 4096, NumStripes: uint16(len(offsets)), SubStripes: 1}
	if len(offsets) > 1 {
		ci.Type |= format.BlockGroupDup
	}
	for _, off := range offsets {
		ci.Stripes = append(ci.Stripes, format.Stripe{DevID: 1, Offset: off})
	}
	return ci
}

func TestDUPWritesEveryCopy(t *testing.T) {
	im, mem, delta := dupImage(t)
	rec := &recDevice{Device: mem}
	c, _ := im.open(t, rec, im.testOptions(16))
	a := im.newLeaf(t, c, im.free(0), 2)
	b := im.newLeaf(t, c, im.free(1), 2)
	require.NoError(t, c.WriteDirty([]*ExtentBuffer{a, b}, CauseCommit))
	c.Release(a)
	c.Release(b)

	off, err := im.cmap.Physical(im.free(0), im.ns)
	require.NoError(t, err)
	ns := int(im.ns)
	require.Equal(t, []write{{off, 2 * ns}, {off + delta, 2 * ns}}, rec.recorded())
	require.Equal(t, mem.Bytes()[off:off+int64(2*ns)], mem.Bytes()[off+delta:off+delta+int64(2*ns)])
	s := c.Stats()
	require.Equal(t, uint64(2), s.WriteIOs)
	require.Equal(t, uint64(4*ns), s.BytesWritten, "both copies counted")
}

func TestDUPReadFallsBackToSecondCopy(t *testing.T) {
	im, mem, delta := dupImage(t)
	tr := im.tree(t, format.FSTreeObjectID)
	off, err := im.cmap.Physical(tr.Bytenr, im.ns)
	require.NoError(t, err)
	mem.Bytes()[off+300] ^= 1
	c, _ := im.open(t, nil, im.testOptions(16))
	eb, err := c.Get(expect(tr))
	require.NoError(t, err, "the second copy is good")
	require.Equal(t, mem.Bytes()[off+delta:off+delta+int64(im.ns)], eb.Data())
	c.Release(eb)

	tr = im.tree(t, format.RootTreeObjectID)
	off, err = im.cmap.Physical(tr.Bytenr, im.ns)
	require.NoError(t, err)
	mem.Bytes()[off+300] ^= 1
	mem.Bytes()[off+delta+300] ^= 1
	_, err = c.Get(expect(tr))
	require.ErrorIs(t, err, format.ErrCorrupt, "both copies bad")
}

// TestFileDevice runs a cache over an image file opened with O_DIRECT (or
// buffered where the filesystem refuses it): buffers are allocated aligned,
// so the device writes them without a bounce copy.
func TestFileDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cowfs.img")
	dev, err := disk.OpenFile(path, disk.FileOptions{Create: true, Size: imageSize})
	require.NoError(t, err)
	defer dev.Close()
	t.Logf("O_DIRECT: %v", dev.Direct())
	im := newImage(t, dev)
	c, _ := im.open(t, nil, im.testOptions(4))
	for _, tr := range im.res.Trees {
		eb, err := c.Get(expect(tr))
		require.NoError(t, err)
		c.Release(eb)
	}
	for i := range 6 { // more than the budget: reclaim writes some
		eb := im.newLeaf(t, c, im.free(i), 2)
		eb.Lock()
		stamp(t, eb, uint64(100+i))
		eb.Unlock()
		c.Release(eb)
	}
	require.NoError(t, c.FlushAll(CauseCommit))
	require.NoError(t, c.Close())
	require.NotZero(t, c.Stats().Writebacks[CauseReclaim])

	fresh, _ := im.open(t, nil, im.testOptions(16))
	for i := range 6 {
		eb, err := fresh.Get(checker.ExpectAt(im.free(i)))
		require.NoError(t, err)
		require.Equal(t, uint64(100+i), stampOf(t, eb.Data()))
		fresh.Release(eb)
	}
}

// TestBtrfsCheckAcceptsWrittenBlocks is an oracle test: the FS tree's leaf,
// changed and written back through the cache (checksum and WRITTEN set by
// writeback), must satisfy btrfs check from btrfs-progs. The block keeps
// its generation, so the test lowers the last committed generation to 0
// ("unknown") to let the write-time checker pass it.
func TestBtrfsCheckAcceptsWrittenBlocks(t *testing.T) {
	btrfs, err := exec.LookPath("btrfs")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("btrfs-progs not installed (CI is set: the oracles must run)")
		}
		t.Skip("SKIP: btrfs-progs not installed — oracle not run")
	}
	path := filepath.Join(t.TempDir(), "cowfs.img")
	dev, err := disk.OpenFile(path, disk.FileOptions{Create: true, Size: imageSize})
	require.NoError(t, err)
	defer dev.Close()
	im := newImage(t, dev)
	c, _ := im.open(t, nil, im.testOptions(16))
	c.SetLastCommitted(0)
	eb, err := c.Get(expect(im.tree(t, format.FSTreeObjectID)))
	require.NoError(t, err)
	eb.Lock()
	stamp(t, eb, 4242)
	c.MarkDirty(eb, 1)
	eb.Unlock()
	require.NoError(t, c.WriteDirty([]*ExtentBuffer{eb}, CauseCommit))
	c.Release(eb)
	require.NoError(t, c.Close())
	require.NoError(t, dev.Flush())
	require.Equal(t, uint64(4242), stampOf(t, im.requireWritten(t, eb.Bytenr)))

	out, err := exec.Command(btrfs, "check", "--readonly", path).CombinedOutput()
	require.NoError(t, err, "btrfs check:\n%s", out)

	// Negative control: the oracle does read that block.
	off, err := im.cmap.Physical(eb.Bytenr, im.ns)
	require.NoError(t, err)
	b := im.onDisk(t, eb.Bytenr)
	b[500] ^= 0xff
	require.NoError(t, dev.WriteAt(b, off, disk.KindMeta))
	require.NoError(t, dev.Flush())
	out, err = exec.Command(btrfs, "check", "--readonly", path).CombinedOutput()
	require.Error(t, err, "btrfs check accepted a corrupt leaf:\n%s", out)
}
