package cache

import (
	"bytes"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

// image is a real filesystem made by mkfs, with what a cache needs to use it.
type image struct {
	dev    disk.Device
	res    *mkfs.Result
	cmap   *disk.ChunkMap
	ctx    checker.Context
	meta   mkfs.Chunk // the METADATA chunk
	ns     uint64     // nodesize
	fsLeaf []byte     // the FS tree's root leaf as on disk
}

const imageSize = 64 << 20

// memImage makes a filesystem with default mkfs options on a MemDevice.
func memImage(t *testing.T) *image {
	t.Helper()
	return newImage(t, disk.NewMemDevice(imageSize))
}

func newImage(t *testing.T, dev disk.Device) *image {
	t.Helper()
	res, err := mkfs.Make(dev, mkfs.DefaultOptions())
	require.NoError(t, err)
	im := &image{dev: dev, res: res, cmap: chunkMapOf(t, res), ctx: checker.ContextFromSuper(res.Super),
		ns: uint64(res.NodeSize)}
	for _, c := range res.Chunks {
		if c.Type&format.BlockGroupMetadata != 0 {
			im.meta = c
		}
	}
	require.NotZero(t, im.meta.Length)
	im.fsLeaf = im.onDisk(t, im.tree(t, format.FSTreeObjectID).Bytenr)
	return im
}

// chunkMapOf maps the chunks mkfs made (SINGLE, identity-mapped).
func chunkMapOf(t *testing.T, res *mkfs.Result) *disk.ChunkMap {
	t.Helper()
	m := disk.NewChunkMap()
	for _, c := range res.Chunks {
		require.NoError(t, m.Insert(c.Logical, &format.ChunkItem{
			Length: c.Length, Owner: format.ExtentTreeObjectID, StripeLen: format.StripeLen,
			Type: c.Type, IOAlign: 65536, IOWidth: 65536, SectorSize: res.SectorSize,
			NumStripes: 1, SubStripes: 1, Stripes: []format.Stripe{{DevID: 1, Offset: c.Physical}},
		}))
	}
	return m
}

func (im *image) tree(t *testing.T, id uint64) mkfs.Tree {
	t.Helper()
	for _, tr := range im.res.Trees {
		if tr.ObjectID == id {
			return tr
		}
	}
	t.Fatalf("no tree %d", id)
	return mkfs.Tree{}
}

// expect is what a parent pointer knows about the root leaf of tree tr.
func expect(tr mkfs.Tree) checker.Expect {
	return checker.Expect{Bytenr: tr.Bytenr, Level: 0, Generation: 1, Owner: tr.ObjectID}
}

// free is the address of the i-th unused block of the METADATA chunk.
func (im *image) free(i int) uint64 {
	return im.meta.Logical + uint64(16+i)*im.ns
}

// onDisk reads the block at logical bytenr straight from the device.
func (im *image) onDisk(t *testing.T, bytenr uint64) []byte {
	t.Helper()
	off, err := im.cmap.Physical(bytenr, im.ns)
	require.NoError(t, err)
	b := make([]byte, im.ns)
	require.NoError(t, im.dev.ReadAt(b, off, disk.KindMeta))
	return b
}

// requireWritten checks the bytes on disk at bytenr: WRITTEN set, checksum
// valid, and the read-time checker accepts them.
func (im *image) requireWritten(t *testing.T, bytenr uint64) []byte {
	t.Helper()
	b := im.onDisk(t, bytenr)
	require.True(t, format.Header(b).Written(), "block %d: WRITTEN not set on disk", bytenr)
	require.True(t, im.ctx.CsumType.VerifyBlockCsum(b), "block %d: bad checksum on disk", bytenr)
	require.NoError(t, checker.CheckBlock(b, im.ctx, checker.ExpectAt(bytenr)))
	return b
}

// testOptions: a budget of n nodes, no flusher.
func (im *image) testOptions(nodes int) Options {
	return Options{Budget: int64(nodes) * int64(im.ns), DirtyThreshold: math.MaxInt64}
}

// open makes a cache over dev (im.dev when nil) whose bug log goes to the
// returned buffer; Cleanup closes it.
func (im *image) open(t *testing.T, dev disk.Device, opts Options) (*Cache, *syncBuffer) {
	t.Helper()
	if dev == nil {
		dev = im.dev
	}
	log := &syncBuffer{}
	c, err := newCache(dev, im.cmap, im.ctx, opts, log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, log
}

// newLeaf creates a dirty leaf at bytenr for transaction transid: a copy of
// the FS tree's leaf, re-addressed, as a COW would make it. It returns the
// buffer with the reference Create took.
func (im *image) newLeaf(t *testing.T, c *Cache, bytenr, transid uint64) *ExtentBuffer {
	t.Helper()
	eb, err := c.Create(bytenr)
	require.NoError(t, err)
	eb.Lock()
	copy(eb.Data(), im.fsLeaf)
	h := eb.Header()
	h.SetBytenr(bytenr)
	h.SetGeneration(transid)
	h.SetWritten(false)
	c.MarkDirty(eb, transid)
	eb.Unlock()
	return eb
}

// dirtyLeaves creates released dirty leaves at the free blocks idx.
func (im *image) dirtyLeaves(t *testing.T, c *Cache, idx ...int) []uint64 {
	t.Helper()
	var out []uint64
	for _, i := range idx {
		eb := im.newLeaf(t, c, im.free(i), 2)
		c.Release(eb)
		out = append(out, eb.Bytenr)
	}
	return out
}

// stamp writes v into the leaf's first item (the root inode's sequence):
// a change the checkers accept. REQUIRES: eb write-locked.
func stamp(t *testing.T, eb *ExtentBuffer, v uint64) {
	t.Helper()
	editInode(t, eb, func(ii *format.InodeItem) { ii.Sequence = v })
}

// editInode changes the leaf's first item, the root inode.
// REQUIRES: eb write-locked.
func editInode(t *testing.T, eb *ExtentBuffer, edit func(*format.InodeItem)) {
	t.Helper()
	l := eb.Leaf()
	ii, err := format.DecodeInodeItem(l.ItemData(0))
	require.NoError(t, err)
	edit(ii)
	copy(l.ItemData(0), ii.Encode())
}

func stampOf(t *testing.T, block []byte) uint64 {
	t.Helper()
	ii, err := format.DecodeInodeItem(format.Leaf(block).ItemData(0))
	require.NoError(t, err)
	return ii.Sequence
}

// cached reports whether bytenr is in the index, without touching LRU order.
func (c *Cache) cached(bytenr uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.mu.index.Peek(bytenr)
	return ok
}

// recDevice records every metadata write and can fail writes.
type recDevice struct {
	disk.Device
	mu     sync.Mutex
	writes []write
	fail   func(off int64) bool
	hook   func(p []byte) // called before each write, outside d.mu
}

type write struct {
	off int64
	n   int
}

var errInjected = errors.New("injected write error")

func (d *recDevice) WriteAt(p []byte, off int64, k disk.Kind) error {
	d.mu.Lock()
	d.writes = append(d.writes, write{off, len(p)})
	fail := d.fail != nil && d.fail(off)
	hook := d.hook
	d.mu.Unlock()
	if hook != nil {
		hook(p)
	}
	if fail {
		return errInjected
	}
	return d.Device.WriteAt(p, off, k)
}

func (d *recDevice) recorded() []write {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]write(nil), d.writes...)
}

func (d *recDevice) setFail(f func(off int64) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = f
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// errRecorder collects OnWriteError calls.
type errRecorder struct {
	mu   sync.Mutex
	ebs  []*ExtentBuffer
	errs []error
}

func (r *errRecorder) record(eb *ExtentBuffer, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ebs = append(r.ebs, eb)
	r.errs = append(r.errs, err)
}

func (r *errRecorder) calls() ([]*ExtentBuffer, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*ExtentBuffer(nil), r.ebs...), append([]error(nil), r.errs...)
}
