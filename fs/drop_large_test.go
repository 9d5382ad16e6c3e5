package fs

import (
	"flag"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
	"cowfs/fs/data"
	"cowfs/transaction"
)

var bigFlag = flag.Bool("fs.big", false, "also run the large-file drop tests with 8 GiB files")

// A large file's data extents carry hundreds of csum leaves: the xxhash
// sums of 2 GiB fill 259 leaves of 16 KiB (2,028 sums each), those of
// 1 GiB 533 leaves of 4 KiB (492 each). Deleting them once overran the global
// reserve in the commit (issue 12: transaction aborted, read-only).

// dropOp is a way of freeing (part of) a file of size bytes: it returns the
// file's size afterwards and the byte ranges whose data is left.
type dropOp struct {
	name string
	run  func(s *sparseFS, ino, size uint64) (newSize uint64, kept [][2]uint64)
}

var dropOps = []dropOp{
	{"unlink", func(s *sparseFS, ino, size uint64) (uint64, [][2]uint64) {
		require.NoError(s.t, s.Unlink(s.Root(), "big"))
		return 0, nil
	}},
	{"release-orphan", func(s *sparseFS, ino, size uint64) (uint64, [][2]uint64) {
		require.NoError(s.t, s.OpenFile(ino))
		require.NoError(s.t, s.Unlink(s.Root(), "big"))
		require.NoError(s.t, s.ReleaseFile(ino))
		return 0, nil
	}},
	{"orphan-cleanup", func(s *sparseFS, ino, size uint64) (uint64, [][2]uint64) {
		require.NoError(s.t, s.OpenFile(ino))
		require.NoError(s.t, s.Unlink(s.Root(), "big"))
		s.reopen() // closed with the orphan open: the open deletes it
		return 0, nil
	}},
	{"truncate-0", func(s *sparseFS, ino, size uint64) (uint64, [][2]uint64) {
		setSize(s, ino, 0)
		return 0, nil
	}},
	{"truncate-unaligned", func(s *sparseFS, ino, size uint64) (uint64, [][2]uint64) {
		n := size/3 + 1000
		setSize(s, ino, n)
		return n, [][2]uint64{{0, n}}
	}},
	{"punch-all", func(s *sparseFS, ino, size uint64) (uint64, [][2]uint64) {
		require.NoError(s.t, s.Fallocate(ino, FallocPunchHole|FallocKeepSize, 0, size))
		return size, nil
	}},
	{"punch-middle", func(s *sparseFS, ino, size uint64) (uint64, [][2]uint64) {
		a, b := size/4+512, size-size/4-512
		require.NoError(s.t, s.Fallocate(ino, FallocPunchHole|FallocKeepSize, a, b-a))
		return size, [][2]uint64{{0, a}, {b, size}}
	}},
	{"overwrite-middle", func(s *sparseFS, ino, size uint64) (uint64, [][2]uint64) {
		zeros := make([]byte, 8<<20)
		a, b := size/4+512, size-size/4-512 // buffered, flushed past the 32 MiB threshold
		for off := a; off < b; off += uint64(len(zeros)) {
			_, err := s.Write(ino, zeros[:min(uint64(len(zeros)), b-off)], off)
			require.NoError(s.t, err)
		}
		return size, [][2]uint64{{0, size}}
	}},
}

func setSize(s *sparseFS, ino, size uint64) {
	s.t.Helper()
	_, err := s.SetAttr(ino, SetAttrIn{Size: &size})
	require.NoError(s.t, err)
}

// dropCase is one file size on one filesystem geometry; each runs with
// the default cache and with a cache of a handful of nodes (no flusher).
type dropCase struct {
	name     string
	nodesize uint32
	size     uint64
}

func dropCases() []dropCase {
	cs := []dropCase{{"2G-16K", 16 << 10, 2 << 30}, {"1G-4K", 4 << 10, 1 << 30}}
	if *bigFlag {
		cs = append(cs, dropCase{"8G-16K", 16 << 10, 8 << 30}, dropCase{"2G-4K", 4 << 10, 2 << 30})
	}
	return cs
}

// tinyCache is opts with a cache budget of 12 nodes and no flusher.
func tinyCache(opts Options, nodesize uint32) Options {
	opts.Transaction.Cache.Budget = 12 * int64(nodesize)
	opts.Transaction.Cache.DirtyThreshold = math.MaxInt64
	opts.Transaction.Cache.FlushInterval = 0
	return opts
}

// TestDropLargeFile: a file of 1-2 GiB (8 GiB with -fs.big) is written and
// committed, then deleted, truncated, punched or overwritten whole, then
// committed: no step may abort, overspend a reservation or leave a
// checksum behind, whatever the cache budget. The file is written once
// per geometry into a sparse image (zeroHoles) with room for it twice;
// each case runs on a sparse copy of that image.
func TestDropLargeFile(t *testing.T) {
	for _, c := range dropCases() {
		t.Run(c.name, func(t *testing.T) {
			img, ino := dropTemplate(t, c)
			for _, tiny := range []bool{false, true} {
				opts, name := testOptions(), "default-cache"
				if tiny {
					opts, name = tinyCache(opts, c.nodesize), "tiny-cache"
				}
				for _, op := range dropOps {
					t.Run(name+"/"+op.name, func(t *testing.T) {
						runDrop(t, c, op, openSparseFS(t, sparseCopy(t, img), opts), ino)
					})
				}
			}
		})
	}
}

// dropTemplate makes an image holding the file "big" of c.size bytes
// (zeros, checksummed), committed, and returns it and the file's inode.
func dropTemplate(t *testing.T, c dropCase) (string, uint64) {
	s := newSparseFS(t, int64(2*c.size+2<<30), c.nodesize, testOptions())
	f, err := s.Create(s.Root(), "big", 0o644, Creator{})
	require.NoError(t, err)
	require.NoError(t, s.Fallocate(f.Ino, 0, 0, c.size))
	require.NoError(t, s.close())
	return s.path, f.Ino
}

func runDrop(t *testing.T, c dropCase, op dropOp, s *sparseFS, ino uint64) {
	require.Equal(t, c.size/4096, s.csumCount(), "sums after the write")
	exts, err := s.data.ExtentCosts(ino, 0, math.MaxUint64)
	require.NoError(t, err)
	t0, before := s.Transaction(), s.Transaction().Stats()
	size, kept := op.run(s, ino, c.size)
	require.NoError(t, s.Sync(), "commit after %s", op.name)
	st := s.Transaction().Stats()
	if s.Transaction() != t0 { // reopened: the figures start again
		before = transaction.Stats{}
	}
	t.Logf("%s of %d bytes in %d extents: %d handles, %d commits, %d bytes of checksum deletions reserved",
		op.name, c.size, len(exts), st.Handles-before.Handles, st.Commits-before.Commits, st.CsumReserved-before.CsumReserved)
	require.Zero(t, st.Overspends, "overspends: %+v", st)
	require.NotZero(t, st.CsumReserved, "no checksum deletion reserved: %+v", st)
	require.Zero(t, st.CsumOwed, "checksum deletions owed to the global reserve: %+v", st)
	// Every data extent keeps all its sums (a trimmed one too), no other.
	used := s.Transaction().Alloc().Space(format.BlockGroupData).Used
	require.Equal(t, used/4096, s.csumCount(), "sums left after %s", op.name)
	if kept == nil {
		require.Zero(t, used, "data left after %s", op.name)
	}
	s.requireZeros(ino, size, kept)
}

// csumCount is the number of checksums in the csum tree.
func (s *sparseFS) csumCount() uint64 {
	s.t.Helper()
	root, err := s.Transaction().Tree(format.CsumTreeObjectID)
	require.NoError(s.t, err)
	it := root.Scan(format.Key{}, format.Key{ObjectID: math.MaxUint64, Type: math.MaxUint8, Offset: math.MaxUint64})
	var n uint64
	for it.Next() {
		n += uint64(len(it.Item().Data) / s.Transaction().CsumType().Size())
	}
	require.NoError(s.t, it.Err())
	return n
}

// requireZeros checks the file's size and that it reads as zeros around
// every edge of kept (the sectors there are verified against their sums).
func (s *sparseFS) requireZeros(ino, size uint64, kept [][2]uint64) {
	s.t.Helper()
	a, err := s.GetAttr(ino)
	if size == 0 && err != nil {
		return // deleted
	}
	require.NoError(s.t, err)
	require.Equal(s.t, size, a.Size)
	buf := make([]byte, 64<<10)
	for _, r := range kept {
		for _, off := range []uint64{r[0], r[1] - min(r[1], uint64(len(buf)))} {
			n, err := s.Read(ino, buf, off)
			require.NoError(s.t, err, "read %d at %d", len(buf), off)
			require.Equal(s.t, make([]byte, n), buf[:n], fmt.Sprintf("bytes at %d", off))
		}
	}
}

// TestDropLargeFileFull: a 1 GiB file (4 KiB nodes, 533 csum leaves) is
// deleted with free metadata space nearly gone (a reserve holds all but
// 2 MiB of it): the steps cannot reserve their checksum deletions, so
// each step owes its own and the next Start commits them out of the
// global reserve first; no commit finds more than one step's owed. (One
// handle dropping the whole file owes 16.7 MB to a single commit.)
func TestDropLargeFileFull(t *testing.T) {
	s := newSparseFS(t, 4<<30, 4<<10, testOptions())
	f, err := s.Create(s.Root(), "big", 0o644, Creator{})
	require.NoError(t, err)
	require.NoError(t, s.Fallocate(f.Ino, 0, 0, 1<<30))
	require.NoError(t, s.Sync())
	filler := s.Transaction().Alloc().NewRsv("filler", format.BlockGroupMetadata)
	filler.Fill(math.MaxUint64 / 2)
	filler.ReleaseBytes(2 << 20)
	before := s.Transaction().Stats()
	require.NoError(t, s.Unlink(s.Root(), "big"))
	require.NoError(t, s.Sync())
	st := s.Transaction().Stats()
	t.Logf("%d commits, %d of %d bytes of checksum deletions owed", st.Commits-before.Commits, st.CsumOwed, st.CsumReserved-before.CsumReserved)
	require.NotZero(t, st.CsumOwed, "the filler left room for the deletions")
	require.Greater(t, st.Commits-before.Commits, uint64(2), "owed deletions commit before the next step")
	step := max(s.evictCsum, s.Transaction().CsumDeleteSize(data.MaxExtentSize)) // at least one extent
	require.LessOrEqual(t, st.MaxCsumOwed, step, "a commit found more than one step's deletions owed")
	filler.Release()
	require.Zero(t, s.csumCount())
	require.Zero(t, s.Transaction().Alloc().Space(format.BlockGroupData).Used)
}
