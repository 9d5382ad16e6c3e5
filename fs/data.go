package fs

import (
	"cowfs/ctree"
	"cowfs/fs/data"
	"cowfs/transaction"
)

// fileData is what this layer needs of the file-data layer (package
// cowfs/fs/data, *data.Files): extents, checksums, reads, writes,
// truncation. Every call that takes a handle runs inside it; the returned
// int64 is the change of the inode's nbytes, which this layer writes into
// the INODE_ITEM. Calls on one inode are serialized by its inode lock.
type fileData interface {
	ReadAt(ino uint64, p []byte, off int64, size uint64, nodatasum bool) (int, error)
	Write(h *transaction.Handle, ino, off uint64, p []byte, size uint64, nodatasum bool) (int64, error)
	Truncate(h *transaction.Handle, ino, oldSize, newSize uint64, nodatasum bool) (int64, error)
	PunchHole(h *transaction.Handle, ino, off, length, size uint64, nodatasum bool) (int64, error)
	Allocate(h *transaction.Handle, ino, off, length, size uint64, nodatasum bool) (int64, error)
	DropAll(h *transaction.Handle, ino uint64) error
	// WriteItems is the number of items a handle reserves to write n bytes.
	WriteItems(n int) int
	// ExtentCosts lists the file extents of [start, end) with the
	// checksum deletions dropping them may reserve.
	ExtentCosts(ino, start, end uint64) ([]data.ExtentCost, error)
}

var _ fileData = (*data.Files)(nil)

// newFileData is the file-data layer of fs tree root.
func newFileData(t *transaction.FS, root *ctree.Root) fileData { return data.New(t, root) }
