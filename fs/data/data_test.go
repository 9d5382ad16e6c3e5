package data

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/alloc"
	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// requireLayout requires f's extents to be exactly want: (offset, type,
// num_bytes or ram_bytes for inline).
func (h *harness) requireLayout(f *mfile, want ...[3]uint64) {
	h.t.Helper()
	var got [][3]uint64
	for _, e := range h.extentsOf(f.ino) {
		n := e.fe.NumBytes
		if e.inline() {
			n = e.fe.RAMBytes
		}
		got = append(got, [3]uint64{e.off, uint64(e.fe.Type), n})
	}
	require.Equal(h.t, want, got, "extents of file %d", f.ino)
}

const (
	inl = uint64(format.FileExtentInline)
	reg = uint64(format.FileExtentReg)
)

func TestWriteLayout(t *testing.T) {
	h := newHarness(t, 256<<20, 16384)
	rng := rand.New(rand.NewPCG(1, 2))
	// §1.3: a 6000-byte file is one regular extent of 8192 bytes, nbytes
	// 8192, two checksums.
	small := h.create("small.bin", false)
	h.write(small, 0, randBytes(rng, 6000))
	h.requireLayout(small, [3]uint64{0, reg, 8192})
	require.Equal(t, uint64(8192), small.nbytes)
	e := h.extentsOf(small.ino)[0]
	sums, err := h.fs.LookupCsums(e.fe.DiskBytenr, 8192)
	require.NoError(t, err)
	require.Len(t, sums, 2*h.files.csumSize)

	// An overwrite inside splits the extent: head, new data, tail pointing
	// further into the old extent.
	big := h.create("big.bin", false)
	h.write(big, 0, randBytes(rng, 200<<10))
	h.write(big, 10000, randBytes(rng, 5000))
	h.requireLayout(big, [3]uint64{0, reg, 8192}, [3]uint64{8192, reg, 8192}, [3]uint64{16384, reg, 200<<10 - 16384})
	exts := h.extentsOf(big.ino)
	require.Equal(t, exts[0].fe.DiskBytenr, exts[2].fe.DiskBytenr)
	require.Equal(t, uint64(16384), exts[2].fe.Offset)
	require.Equal(t, uint64(200<<10), big.nbytes)
	h.verifyAll(rng)
	h.commit()

	// Appends make one extent per write; their checksums share items.
	seq := h.create("seq.bin", false)
	for range 32 {
		h.write(seq, seq.size(), randBytes(rng, 128<<10))
	}
	require.Len(t, h.extentsOf(seq.ino), 32)
	h.verifyAll(rng)
	h.reopen()
	h.verifyAll(rng)
	csumRoot, err := h.fs.Tree(format.CsumTreeObjectID)
	require.NoError(t, err)
	items := 0
	it := csumRoot.ScanFrom(format.Key{})
	for it.Next() {
		items++
	}
	require.NoError(t, it.Err())
	require.LessOrEqual(t, items, 4, "checksums of contiguous extents share items")
}

func TestInlineTransitions(t *testing.T) {
	h := newHarness(t, 256<<20, 16384)
	rng := rand.New(rand.NewPCG(3, 4))
	f := h.create("f", false)
	h.write(f, 0, randBytes(rng, 100))
	h.requireLayout(f, [3]uint64{0, inl, 100})
	h.write(f, 100, randBytes(rng, 100))
	h.requireLayout(f, [3]uint64{0, inl, 200})
	h.write(f, 2000, randBytes(rng, 48))
	h.requireLayout(f, [3]uint64{0, inl, 2048})
	require.Equal(t, uint64(2048), f.nbytes)
	h.verify(f, rng)

	// One byte past max_inline: a regular extent.
	h.write(f, 2048, []byte{7})
	h.requireLayout(f, [3]uint64{0, reg, 4096})
	h.verify(f, rng)
	// Truncated small again: the sector's rewrite makes it inline.
	h.truncate(f, 50)
	h.requireLayout(f, [3]uint64{0, inl, 50})
	h.verify(f, rng)
	// Grown past the limit: converted.
	h.truncate(f, 10000)
	h.requireLayout(f, [3]uint64{0, reg, 4096})
	h.verify(f, rng)
	h.truncate(f, 0)
	h.requireLayout(f)
	require.Zero(t, f.nbytes)
	h.write(f, 8192, randBytes(rng, 10))
	h.requireLayout(f, [3]uint64{8192, reg, 4096})
	h.verify(f, rng)
	h.commit()

	// A write far from an inline extent converts it on its own.
	g := h.create("g", false)
	h.write(g, 0, randBytes(rng, 1000))
	h.write(g, 1<<20, randBytes(rng, 10))
	h.requireLayout(g, [3]uint64{0, reg, 4096}, [3]uint64{1 << 20, reg, 4096})
	h.verify(g, rng)

	// Punching and truncating inside an inline extent keeps it inline.
	p := h.create("p", true)
	h.write(p, 0, randBytes(rng, 1000))
	h.punch(p, 10, 20)
	h.requireLayout(p, [3]uint64{0, inl, 1000})
	h.truncate(p, 999)
	h.requireLayout(p, [3]uint64{0, inl, 999})
	h.verify(p, rng)
	// Allocating past the limit converts and fills the rest.
	h.allocate(p, 0, 5000)
	h.requireLayout(p, [3]uint64{0, reg, 4096}, [3]uint64{4096, reg, 4096})
	h.verify(p, rng)
	h.reopen()
	h.verifyAll(rng)
}

func TestPunchAllocateTruncate(t *testing.T) {
	h := newHarness(t, 256<<20, 4096)
	rng := rand.New(rand.NewPCG(5, 6))
	f := h.create("f", false)
	h.write(f, 0, randBytes(rng, 100000))
	h.punch(f, 5000, 20000) // partial sectors rewritten, whole ones dropped
	h.verify(f, rng)
	h.punch(f, 0, 4096)
	h.verify(f, rng)
	h.allocate(f, 0, 200000) // fills the holes, grows the file
	h.verify(f, rng)
	require.Equal(t, alignUp(200000, 4096), f.nbytes)
	h.truncate(f, 12345) // the last sector's tail is zeroed on disk
	h.verify(f, rng)
	h.truncate(f, 50000)
	h.verify(f, rng)
	require.Zero(t, f.content[12345], "bytes past an old size read as zeros")
	h.punch(f, 60000, 1000) // past the end: nothing
	h.verify(f, rng)
	h.allocateKeepSize(f, 40000, 100000) // extents past the size, as prealloc
	h.verify(f, rng)
	h.write(f, 70000, randBytes(rng, 100)) // the size grows over them: zeros
	h.verify(f, rng)
	h.commit()
	h.remove(f)
	h.commit()
	csumRoot, err := h.fs.Tree(format.CsumTreeObjectID)
	require.NoError(t, err)
	it := csumRoot.ScanFrom(format.Key{})
	require.False(t, it.Next(), "the checksums went with the last file")
	require.NoError(t, it.Err())
}

// TestRandomOps applies random writes, overwrites, truncates, punches and
// allocations of many sizes to a few files and a byte-slice model, reads
// back after each, commits and reopens along the way.
func TestRandomOps(t *testing.T) {
	for _, nodesize := range []uint32{4096, 16384} {
		t.Run(map[uint32]string{4096: "nodesize=4096", 16384: "nodesize=16384"}[nodesize], func(t *testing.T) {
			testRandomOps(t, nodesize)
		})
	}
}

func testRandomOps(t *testing.T, nodesize uint32) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0xda7a))
	h := newHarness(t, 512<<20, nodesize)
	var files []*mfile
	for i := range 5 {
		files = append(files, h.create(string(rune('a'+i))+".bin", i == 4))
	}
	randSize := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return 1 + rng.Uint64N(3000)
		case 1:
			return 1 + rng.Uint64N(20000)
		case 2:
			return 1 + rng.Uint64N(200<<10)
		}
		return 1 + rng.Uint64N(2<<20)
	}
	randOff := func(f *mfile) uint64 {
		if rng.IntN(4) == 0 {
			return f.size() // append
		}
		return rng.Uint64N(f.size() + 8192)
	}
	ops := *opsFlag
	if testing.Short() {
		ops = min(ops, 50)
	}
	for i := range ops {
		f := files[rng.IntN(len(files))]
		var lo, hi uint64
		switch r := rng.IntN(20); {
		case r < 10:
			lo, hi = randOff(f), randSize()
			h.write(f, lo, randBytes(rng, int(hi)))
		case r < 13:
			lo = rng.Uint64N(f.size() + f.size()/2 + 3000)
			h.truncate(f, lo)
		case r < 16:
			lo, hi = randOff(f), randSize()
			h.punch(f, lo, hi)
		case r < 17:
			lo, hi = randOff(f), randSize()
			h.allocate(f, lo, hi)
		case r < 18:
			lo, hi = randOff(f), randSize()
			h.allocateKeepSize(f, lo, hi)
		default:
			if f.size() > 4<<20 {
				lo = rng.Uint64N(1 << 20)
				h.truncate(f, lo)
			}
		}
		h.verifyRange(f, rng, lo, lo+hi)
		switch {
		case i%50 == 49:
			h.reopen()
			h.verifyAll(rng)
		case i%10 == 9:
			h.commit()
			h.verifyAll(rng)
		}
	}
	h.remove(files[0])
	h.verifyAll(rng)
	t.Logf("seed %d: %+v", seed, h.files.Stats())
}

// corrupt flips one byte of the image at logical address addr.
func (h *harness) corrupt(addr uint64) {
	phys, err := h.fs.ChunkMap().Physical(addr, 1)
	require.NoError(h.t, err)
	img, err := os.OpenFile(h.path, os.O_RDWR, 0)
	require.NoError(h.t, err)
	defer img.Close()
	b := make([]byte, 1)
	_, err = img.ReadAt(b, phys)
	require.NoError(h.t, err)
	b[0] ^= 0x5a
	_, err = img.WriteAt(b, phys)
	require.NoError(h.t, err)
}

func TestCsumCorruption(t *testing.T) {
	h := newHarness(t, 256<<20, 16384)
	rng := rand.New(rand.NewPCG(7, 8))
	f := h.create("f", false)
	n := h.create("nosum", true)
	h.write(f, 0, randBytes(rng, 3*4096))
	h.write(n, 0, randBytes(rng, 3*4096))
	h.reopen()
	fe, ne := h.extentsOf(f.ino)[0].fe, h.extentsOf(n.ino)[0].fe
	bad := fe.DiskBytenr + 4096 + 10
	h.corrupt(bad)
	h.corrupt(ne.DiskBytenr + 10)

	buf := make([]byte, f.size())
	_, err := h.files.ReadAt(f.ino, buf, 0, f.size(), false)
	require.ErrorIs(t, err, syscall.EIO)
	var ce *CsumError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, f.ino, ce.Ino)
	require.Equal(t, uint64(format.FSTreeObjectID), ce.Root)
	require.Equal(t, uint64(4096), ce.FileOffset)
	require.Equal(t, fe.DiskBytenr+4096, ce.Logical)
	require.Equal(t, 1, ce.Mirror)
	require.Contains(t, err.Error(), "csum failed root 5 ino 257 off 4096")
	t.Log(err)
	// The good sectors still read.
	_, err = h.files.ReadAt(f.ino, buf[:4096], 0, f.size(), false)
	require.NoError(t, err)
	requireSameBytes(t, f.content[:4096], buf[:4096], "first sector")
	// A partial write into the bad sector must read it: EIO too.
	th := h.start(h.files.WriteItems(10))
	_, err = h.files.Write(th, f.ino, 4100, []byte("x"), f.size(), false)
	require.ErrorIs(t, err, syscall.EIO)
	h.end(th)
	// NODATASUM data is not verified: the flipped byte reads back.
	_, err = h.files.ReadAt(n.ino, buf, 0, n.size(), true)
	require.NoError(t, err)
	require.Equal(t, n.content[10]^0x5a, buf[10])
	require.Equal(t, uint64(2), h.files.Stats().CsumFailures)

	// Repair both so that the oracles see a clean image.
	h.corrupt(bad)
	h.corrupt(ne.DiskBytenr + 10)
	h.verifyAll(rng)
}

func TestMissingCsum(t *testing.T) {
	h := newHarness(t, 256<<20, 16384)
	rng := rand.New(rand.NewPCG(9, 10))
	f := h.create("f", false)
	h.write(f, 0, randBytes(rng, 8192))
	fe := h.extentsOf(f.ino)[0].fe
	th := h.start(4)
	sums, err := h.fs.LookupCsums(fe.DiskBytenr, 8192)
	require.NoError(t, err)
	require.NoError(t, th.DeleteCsums(fe.DiskBytenr+4096, 4096))
	h.end(th)
	_, err = h.files.ReadAt(f.ino, make([]byte, 8192), 0, f.size(), false)
	var ce *CsumError
	require.ErrorAs(t, err, &ce)
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, err, transaction.ErrNoCsum)
	require.Equal(t, uint64(4096), ce.FileOffset)
	require.Nil(t, ce.Want)
	th = h.start(4)
	require.NoError(t, th.InsertCsums(fe.DiskBytenr+4096, sums[h.files.csumSize:]))
	h.end(th)
	h.verify(f, rng)
}

// TestCompressedUnsupported: compressed extents (written by the kernel)
// read as EOPNOTSUPP naming the compression, and drop like any other.
func TestCompressedUnsupported(t *testing.T) {
	h := newHarness(t, 256<<20, 16384)
	root := h.files.Root()
	f := h.create("inline-zstd", false)
	g := h.create("reg-zlib", false)
	th := h.start(10)
	ife := &format.FileExtent{Generation: th.Transid(), RAMBytes: 100, Compression: format.CompressZstd,
		Type: format.FileExtentInline, Inline: bytes.Repeat([]byte{1}, 30)}
	require.NoError(t, ctree.InsertItem(th, root, extentKey(f.ino, 0), ife.Encode()))
	h.applied(th, f, 100, 100)
	bytenr, n, err := th.AllocDataUpTo(4096, 4096)
	require.NoError(t, err)
	require.Equal(t, uint64(4096), n)
	junk := make([]byte, 4096)
	require.NoError(t, th.InsertCsums(bytenr, h.files.csums(junk, nil)))
	rfe := &format.FileExtent{Generation: th.Transid(), RAMBytes: 8192, Compression: format.CompressZlib,
		Type: format.FileExtentReg, DiskBytenr: bytenr, DiskNumBytes: 4096, NumBytes: 8192}
	require.NoError(t, ctree.InsertItem(th, root, extentKey(g.ino, 0), rfe.Encode()))
	th.AddDataRef(bytenr, 4096, root.ID, g.ino, 0, 1)
	h.applied(th, g, 8192, 8192)
	h.end(th)
	h.commit()
	for _, c := range []struct {
		f    *mfile
		name string
	}{{f, "zstd"}, {g, "zlib"}} {
		_, err := h.files.ReadAt(c.f.ino, make([]byte, 10), 0, c.f.nbytes, false)
		require.ErrorIs(t, err, syscall.EOPNOTSUPP)
		require.Contains(t, err.Error(), c.name+"-compressed")
	}
	// Gone again: the image stays clean for the oracles.
	h.remove(f)
	h.remove(g)
	h.commit()
}

// TestENOSPC: an allocation the device cannot hold fails with ENOSPC and
// changes nothing; the extents allocated meanwhile are freed at commit.
func TestENOSPC(t *testing.T) {
	h := newHarness(t, 128<<20, 16384)
	rng := rand.New(rand.NewPCG(11, 12))
	f := h.create("f", false)
	h.write(f, 0, randBytes(rng, 100000))
	before := h.extentsOf(f.ino)
	th := h.start(20)
	_, err := h.files.Allocate(th, f.ino, 0, 256<<20, f.size(), false)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorIs(t, err, alloc.ErrNoSpace)
	h.end(th)
	require.Equal(t, before, h.extentsOf(f.ino))
	h.verify(f, rng)
	h.commit()
	require.NoError(t, h.fs.Alloc().Check())
	h.write(f, 200000, randBytes(rng, 5000))
	h.verify(f, rng)
}

// TestMaxExtentSize: one large write makes extents of at most 128 MiB.
func TestMaxExtentSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 129 MiB")
	}
	h := newHarness(t, 2<<30, 16384)
	rng := rand.New(rand.NewPCG(13, 14))
	f := h.create("large", false)
	h.write(f, 0, randBytes(rng, 129<<20))
	h.requireLayout(f, [3]uint64{0, reg, 128 << 20}, [3]uint64{128 << 20, reg, 1 << 20})
	h.write(f, 64<<20, randBytes(rng, 4096))
	require.Len(t, h.extentsOf(f.ino), 4)
	h.reopen()
	// Ranges around the boundaries here; the oracles read it all.
	for _, at := range []uint64{0, 64 << 20, 128 << 20, 129 << 20} {
		h.verifyRange(f, rng, at, at)
	}
}

func TestErrorsWrapErrno(t *testing.T) {
	require.True(t, errors.Is(&CsumError{}, syscall.EIO))
}

// TestConcurrentWrites: handles writing different files at once (their
// checksum edits serialize on the transaction; their fs-tree edits lock
// leaves), with commits in between.
func TestConcurrentWrites(t *testing.T) {
	h := newHarness(t, 512<<20, 4096)
	const workers, writes = 4, 12
	var files []*mfile
	for i := range workers {
		files = append(files, h.create(string(rune('w'+i)), false))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			for range writes {
				if err := concurrentWrite(h, f, rng); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for round := 0; round < 3; round++ {
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, h.fs.Commit())
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	h.verifyAll(rng)
	h.reopen()
	h.verifyAll(rng)
}

// concurrentWrite is harness.write for a goroutine: errors are returned.
// Each goroutine owns its file (and so its model).
func concurrentWrite(h *harness, f *mfile, rng *rand.Rand) error {
	off, data := rng.Uint64N(f.size()+10000), randBytes(rng, 1+rng.IntN(100000))
	th, err := h.fs.Start(h.files.WriteItems(len(data)) + 1)
	if err != nil {
		return err
	}
	d, err := h.files.Write(th, f.ino, off, data, f.size(), f.nodatasum)
	if err != nil {
		th.End()
		return err
	}
	f.content = grow(f.content, off+uint64(len(data)))
	copy(f.content[off:], data)
	f.nbytes = uint64(int64(f.nbytes) + d)
	if err := setInodeErr(th, h.files.Root(), f.ino, f.size(), f.nbytes); err != nil {
		th.End()
		return err
	}
	return th.End()
}

func setInodeErr(th *transaction.Handle, root *ctree.Root, ino, size, nbytes uint64) error {
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(th, root, format.Key{ObjectID: ino, Type: format.InodeItemKey}, &p, 0, true)
	if err != nil || !found {
		return errors.Join(err, errors.New("inode item missing"))
	}
	in, err := format.DecodeInodeItem(p.ItemData())
	if err != nil {
		return err
	}
	in.Size, in.Nbytes, in.Transid = size, nbytes, th.Transid()
	copy(p.ItemData(), in.Encode())
	return nil
}
