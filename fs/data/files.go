package data

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ncw/directio"

	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// Limits of the data path, the kernel's.
const (
	// MaxExtentSize is the largest data extent a write creates
	// (BTRFS_MAX_EXTENT_SIZE).
	MaxExtentSize = 128 << 20
	// MaxInline is the default max_inline mount option: the largest file
	// stored inline in its EXTENT_DATA item.
	MaxInline = format.MaxInline
)

// ioSize is the most data moved by one device read or write.
const ioSize = 4 << 20

// Files is the file data of one subvolume tree.
type Files struct {
	fs        *transaction.FS
	root      *ctree.Root
	dev       disk.Device
	cmap      *disk.ChunkMap
	csumType  format.CsumType
	csumSize  int
	sector    uint64
	nodesize  uint32
	maxInline uint64
	noHoles   bool // the NO_HOLES feature: gaps between extents need no hole items
	stats     counters
}

// New returns the file data of subvolume tree root of t.
func New(t *transaction.FS, root *ctree.Root) *Files {
	ss := uint64(t.SectorSize())
	ns := t.NodeSize()
	return &Files{
		fs: t, root: root, dev: t.Device(), cmap: t.ChunkMap(),
		csumType: t.CsumType(), csumSize: t.CsumType().Size(), sector: ss, nodesize: ns,
		maxInline: min(MaxInline, ss-1, uint64(format.MaxItemSize(ns))-format.FileExtentInlineHeader),
		noHoles:   t.Super().IncompatFlags&format.IncompatNoHoles != 0,
	}
}

// changeable fails when cowfs cannot change ino's data correctly: on a
// filesystem without NO_HOLES every gap needs a hole extent, which cowfs
// does not write.
func (f *Files) changeable(ino uint64) error {
	if !f.noHoles {
		return fmt.Errorf("root %d ino %d: filesystem without NO_HOLES (hole extents are not written): %w",
			f.root.ID, ino, syscall.EOPNOTSUPP)
	}
	return nil
}

// Root is the subvolume tree the data lives in.
func (f *Files) Root() *ctree.Root { return f.root }

// inlineOK reports whether a file of size bytes is stored inline: the
// kernel inlines a file whose data all fits in one EXTENT_DATA item at
// offset 0, of at most max_inline (2,048) bytes and less than a sector.
func (f *Files) inlineOK(size uint64) bool { return size > 0 && size <= f.maxInline }

// WriteItems is how many items a Write (or Allocate) of n bytes may
// insert or change, for transaction.Start: the new file extent items (one
// per 128 MiB, and fragmentation), their checksum items, the items the
// drop of the old extents trims, splits or deletes (a leaf of deletions
// counted as one), and an inline extent's conversion. The caller adds its
// own (the INODE_ITEM).
func (f *Files) WriteItems(n int) int {
	sectors := (uint64(max(n, 0))+f.sector-1)/f.sector + 2
	bytes := sectors * f.sector
	extents := bytes/MaxExtentSize + 2
	maxSums := (uint64(format.LeafDataSize(f.nodesize))-2*format.ItemHeaderSize)/uint64(f.csumSize) - 1
	csumItems := sectors/maxSums + 2
	perLeaf := uint64(format.LeafDataSize(f.nodesize)) / (format.ItemHeaderSize + format.FileExtentRegSize)
	dropLeaves := sectors/perLeaf + 1
	return int(extents + csumItems + dropLeaves + 4)
}

// DropItems is how many items dropping ino's file range [start, end) may
// change, for transaction.Start before Truncate (start = the new size,
// end = math.MaxUint64), PunchHole (the range) or DropAll (0,
// math.MaxUint64): the extents found there, a leaf of deletions counted
// as one (leaves taken as half full), plus the trims, the split and the
// rewrite of two partial sectors. The caller adds its own items.
func (f *Files) DropItems(ino, start, end uint64) (int, error) {
	exts, err := f.extents(ino, alignDown(start, f.sector), end)
	if err != nil {
		return 0, err
	}
	perLeaf := int(format.LeafDataSize(f.nodesize)) / (format.ItemHeaderSize + format.FileExtentRegSize) / 2
	return len(exts)/perLeaf + 3 + f.WriteItems(2*int(f.sector)), nil
}

// CsumError reports data whose checksum does not match (or that has no
// checksum), located as the kernel's "csum failed" message: subvolume,
// inode, file offset and the sector's logical address. It unwraps to
// syscall.EIO (and to the lookup error when the checksum is missing).
type CsumError struct {
	Root, Ino  uint64
	FileOffset uint64 // of the sector
	Logical    uint64 // disk address of the sector
	Mirror     int    // copy read (1 = first)
	Have, Want []byte // computed and stored checksums; Want nil when missing
	Err        error  // why the checksum is missing
}

func (e *CsumError) Error() string {
	if e.Want == nil {
		return fmt.Sprintf("csum hole found: root %d ino %d off %d logical %d: %v",
			e.Root, e.Ino, e.FileOffset, e.Logical, e.Err)
	}
	return fmt.Sprintf("csum failed root %d ino %d off %d logical %d csum 0x%x expected csum 0x%x mirror %d",
		e.Root, e.Ino, e.FileOffset, e.Logical, e.Have, e.Want, e.Mirror)
}

// Unwrap returns syscall.EIO and the lookup error, if any.
func (e *CsumError) Unwrap() []error {
	if e.Err != nil {
		return []error{syscall.EIO, e.Err}
	}
	return []error{syscall.EIO}
}

// unsupported returns the error for an extent cowfs cannot read or split
// (compressed or encoded), or nil. It wraps syscall.EOPNOTSUPP.
func (f *Files) unsupported(ino uint64, e fileExtent) error {
	var what []string
	if c := e.fe.Compression; c != format.CompressNone {
		what = append(what, compressionName(c)+"-compressed")
	}
	if e.fe.Encryption != 0 || e.fe.OtherEncoding != 0 {
		what = append(what, fmt.Sprintf("encoded (encryption %d, other %d)", e.fe.Encryption, e.fe.OtherEncoding))
	}
	if what == nil {
		return nil
	}
	return fmt.Errorf("root %d ino %d: %s file extent at offset %d: %w",
		f.root.ID, ino, strings.Join(what, " "), e.off, syscall.EOPNOTSUPP)
}

func compressionName(c uint8) string {
	switch c {
	case format.CompressZlib:
		return "zlib"
	case format.CompressLZO:
		return "lzo"
	case format.CompressZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression-%d", c)
}

// Stats are the data path's counters since New.
//
//	BytesRead, BytesWritten = file bytes returned by ReadAt, given to Write
//	DataWritten             = bytes written to the device (whole sectors,
//	                          every copy): DataWritten / BytesWritten is the
//	                          data write amplification of partial sectors
//	ExtentsWritten          = regular extents created; InlineWrites = inline
//	RMWSectors              = partial sectors read to be rewritten
//	CsumFailures            = reads failed by a checksum
type Stats struct {
	BytesRead, BytesWritten, DataWritten uint64
	ExtentsWritten, InlineWrites         uint64
	RMWSectors, CsumFailures             uint64
}

type counters struct {
	bytesRead, bytesWritten, dataWritten atomic.Uint64
	extents, inline, rmw, csumFailures   atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (f *Files) Stats() Stats {
	c := &f.stats
	return Stats{BytesRead: c.bytesRead.Load(), BytesWritten: c.bytesWritten.Load(),
		DataWritten: c.dataWritten.Load(), ExtentsWritten: c.extents.Load(), InlineWrites: c.inline.Load(),
		RMWSectors: c.rmw.Load(), CsumFailures: c.csumFailures.Load()}
}

// ioBufs and smallBufs hold aligned buffers for O_DIRECT transfers: of
// ioSize bytes, and of smallIO bytes for transfers that need no more.
var (
	ioBufs    = sync.Pool{New: func() any { b := directio.AlignedBlock(ioSize); return &b }}
	smallBufs = sync.Pool{New: func() any { b := directio.AlignedBlock(smallIO); return &b }}
)

const smallIO = 64 << 10

// getBuf returns an aligned buffer of at least min(n, ioSize) bytes.
func getBuf(n uint64) *[]byte {
	if n <= smallIO {
		return smallBufs.Get().(*[]byte)
	}
	return ioBufs.Get().(*[]byte)
}

func putBuf(b *[]byte) {
	if len(*b) == smallIO {
		smallBufs.Put(b)
		return
	}
	ioBufs.Put(b)
}

func alignDown(v, a uint64) uint64 { return v / a * a }
func alignUp(v, a uint64) uint64   { return (v + a - 1) / a * a }
