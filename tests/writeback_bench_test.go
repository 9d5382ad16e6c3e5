package tests

// BenchmarkCommitWriteback measures the commit's writeback of its dirty set
// — cache.WriteDirty(…, CauseCommit) then a device flush — on an image file
// opened with O_DIRECT, beside fio's 16 KiB O_DIRECT sequential write at
// queue depth 32 of the same number of bytes in the same directory, run in
// the same benchmark iteration. Figures and commands: docs/benchmarks.md,
// "Commit writeback vs fio".

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

var (
	writebackDir = flag.String("writeback.dir", "",
		"directory on the disk to measure commit writeback in (default: the benchmark's TempDir, under $TMPDIR)")
	writebackDepth = flag.Int("writeback.depth", 0, "cache Options.WritebackDepth (0: the default)")
	writebackMaxIO = flag.Int64("writeback.maxio", 0, "cache Options.WritebackMaxIO in bytes (0: the default)")
)

const (
	wbNodeSize = 16 << 10
	// wbFSSize is the filesystem mkfs makes at the start of the image; the
	// benchmark's blocks follow it, in a METADATA chunk of their own.
	wbFSSize      = 128 << 20
	wbTransid     = 2 // the running transaction: one above mkfs's generation
	wbSampleEvery = 997
)

func BenchmarkCommitWriteback(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("blocks=%d", n), func(b *testing.B) { benchCommitWriteback(b, n) })
	}
}

// benchCommitWriteback writes n adjacent dirty blocks.
func benchCommitWriteback(b *testing.B, n int) {
	needFio(b)
	w := newWritebackImage(b, benchDir(b), n)
	size := int64(n) * wbNodeSize
	var took, fioTook time.Duration
	var ref fioResult
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		w.redirty(b, i > 0)
		ref = fioSeqWrite(b, w.dir, size)
		fioTook += time.Duration(float64(size) / (ref.MiBps * (1 << 20)) * float64(time.Second))
		before := w.c.Stats()
		b.StartTimer()
		start := time.Now()
		require.NoError(b, w.c.WriteDirty(w.ebs, cache.CauseCommit))
		require.NoError(b, w.dev.Flush())
		took += time.Since(start)
		b.StopTimer()
		w.requireWritten(b, w.c.Stats().Sub(before))
	}
	mibps := float64(size) * float64(b.N) / took.Seconds() / (1 << 20)
	fioMiBps := float64(size) * float64(b.N) / fioTook.Seconds() / (1 << 20)
	b.ReportMetric(mibps, "MiB/s")
	b.ReportMetric(fioMiBps, "fio-MiB/s")
	b.ReportMetric(mibps/fioMiBps, "ratio")
	b.Logf("%d blocks, %s, cache %s: %.1f MiB/s, fio (%s) %.1f MiB/s, ratio %.2f",
		n, w.dir, w.c.Options(), mibps, ref.Engine, fioMiBps, mibps/fioMiBps)
}

// benchDir is where the image goes: -writeback.dir, or a fresh TempDir.
func benchDir(b *testing.B) string {
	if *writebackDir == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(*writebackDir, "cowfs-writeback")
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// writebackImage is an image file with n dirty leaves cached, addressed one
// after the other in a METADATA chunk of their own after a small mkfs'd
// filesystem (whose superblock gives the checker its context).
type writebackImage struct {
	dir   string
	path  string
	dev   *disk.FileDevice
	c     *cache.Cache
	ebs   []*cache.ExtentBuffer
	start int64 // physical (= logical) address of the first block
	ctx   checker.Context
}

func newWritebackImage(b *testing.B, dir string, n int) *writebackImage {
	b.Helper()
	w := &writebackImage{dir: dir, path: filepath.Join(dir, "image"), start: wbFSSize}
	size := w.start + w.regionLen(n)
	dev, err := disk.OpenFile(w.path, disk.FileOptions{Create: true, Size: size})
	require.NoError(b, err)
	b.Cleanup(func() { dev.Close() })
	if !dev.Direct() {
		b.Skipf("SKIP: %s refuses O_DIRECT (tmpfs?): run with -writeback.dir=<a directory on a disk>", dir)
	}
	w.dev = dev
	opts := mkfs.DefaultOptions()
	opts.Size = wbFSSize
	res, err := mkfs.Make(dev, opts)
	require.NoError(b, err)
	w.ctx = checker.ContextFromSuper(res.Super)
	cmap := writebackChunkMap(b, res, w.start, uint64(w.regionLen(n)))
	copts := cache.DefaultOptions()
	copts.Budget = 2 * int64(n) * wbNodeSize
	copts.DirtyThreshold = math.MaxInt64 // no flusher: only the commit writes
	if *writebackDepth != 0 {
		copts.WritebackDepth = *writebackDepth
	}
	if *writebackMaxIO != 0 {
		copts.WritebackMaxIO = *writebackMaxIO
	}
	w.c, err = cache.New(dev, cmap, w.ctx, copts)
	require.NoError(b, err)
	b.Cleanup(func() { w.close(b) })
	w.createLeaves(b, readFSLeaf(b, dev, res), n)
	return w
}

// writebackChunkMap maps mkfs's chunks and one more METADATA chunk of
// length bytes at start, all identity-mapped.
func writebackChunkMap(b *testing.B, res *mkfs.Result, start int64, length uint64) *disk.ChunkMap {
	b.Helper()
	chunks := append([]mkfs.Chunk(nil), res.Chunks...)
	chunks = append(chunks, mkfs.Chunk{Type: format.BlockGroupMetadata, Logical: uint64(start),
		Physical: uint64(start), Length: length})
	m := disk.NewChunkMap()
	for _, c := range chunks {
		require.NoError(b, m.Insert(c.Logical, &format.ChunkItem{
			Length: c.Length, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen,
			Type: c.Type, IOAlign: 65536, IOWidth: 65536, SectorSize: res.SectorSize,
			NumStripes: 1, SubStripes: 1, Stripes: []format.Stripe{{DevID: 1, Offset: c.Physical}},
		}))
	}
	return m
}

// readFSLeaf returns the FS tree's root leaf as mkfs wrote it: a valid
// leaf to copy.
func readFSLeaf(b *testing.B, dev disk.Device, res *mkfs.Result) []byte {
	b.Helper()
	for _, t := range res.Trees {
		if t.ObjectID == format.FSTreeObjectID {
			leaf := make([]byte, res.NodeSize)
			require.NoError(b, dev.ReadAt(leaf, int64(t.Bytenr), disk.KindMeta)) // identity-mapped
			return leaf
		}
	}
	b.Fatal("mkfs made no FS tree")
	return nil
}

// regionLen is the length of the block region holding n blocks.
func (w *writebackImage) regionLen(n int) int64 { return int64(n) * wbNodeSize }

// addr is the address of block i.
func (w *writebackImage) addr(i int) uint64 { return uint64(w.start) + uint64(i)*wbNodeSize }

// createLeaves makes n dirty leaves, copies of leaf re-addressed as a COW
// of the running transaction would make them; the benchmark keeps their
// references.
func (w *writebackImage) createLeaves(b *testing.B, leaf []byte, n int) {
	b.Helper()
	for i := range n {
		addr := w.addr(i)
		eb, err := w.c.Create(addr)
		require.NoError(b, err)
		eb.Lock()
		copy(eb.Data(), leaf)
		h := eb.Header()
		h.SetBytenr(addr)
		h.SetGeneration(wbTransid)
		h.SetWritten(false)
		w.c.MarkDirty(eb, wbTransid)
		eb.Unlock()
		w.ebs = append(w.ebs, eb)
	}
}

// redirty puts the block region back in the state fio's file starts in —
// preallocated, never written — and, after the first round, marks every
// leaf dirty again. The flush keeps the extent changes out of the timed
// flush.
func (w *writebackImage) redirty(b *testing.B, mark bool) {
	b.Helper()
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	require.NoError(b, err)
	defer f.Close()
	length := w.regionLen(len(w.ebs))
	fd := int(f.Fd())
	require.NoError(b, unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, w.start, length))
	require.NoError(b, unix.Fallocate(fd, 0, w.start, length))
	require.NoError(b, f.Sync())
	if !mark {
		return
	}
	for _, eb := range w.ebs {
		eb.Lock()
		w.c.MarkDirty(eb, wbTransid)
		eb.Unlock()
	}
}

// requireWritten checks one round: every block written for the commit, no
// error, and a sample of blocks on disk passes the read-time checker.
func (w *writebackImage) requireWritten(b *testing.B, d cache.Stats) {
	b.Helper()
	require.Equal(b, uint64(len(w.ebs)), d.Writebacks[cache.CauseCommit], "%s", d)
	require.Zero(b, d.WriteErrors, "%s", d)
	require.Zero(b, d.DirtyBytes)
	block := make([]byte, wbNodeSize)
	for i := 0; i < len(w.ebs); i += wbSampleEvery {
		addr := w.addr(i)
		require.NoError(b, w.dev.ReadAt(block, int64(addr), disk.KindMeta))
		require.NoError(b, checker.CheckBlock(block, w.ctx, checker.ExpectAt(addr)), "block %d", addr)
		require.True(b, format.Header(block).Written())
	}
}

func (w *writebackImage) close(b *testing.B) {
	for _, eb := range w.ebs {
		w.c.Release(eb)
	}
	require.NoError(b, w.c.Close())
}
