package transaction

import (
	"bytes"
	"fmt"
)

// Abort ends the running transaction with err, as btrfs_abort_transaction:
// the first error sticks, the filesystem turns read-only (every later
// Start and Commit fails with EROFS wrapping it), nothing of the running
// transaction is written, and the last commit stays intact on disk.
func (fs *FS) Abort(err error) { fs.abort(err) }

func (fs *FS) abort(err error) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.mu.abort != nil {
		return false
	}
	fs.mu.abort = err
	fs.stats.aborts.Add(1)
	fmt.Fprintf(fs.log, "cowfs: transaction %d aborted: %v\ncowfs: forced read-only\n", fs.mu.cur.transid, err)
	return true
}

// abortWithDump aborts after a reserve ran dry and prints the kernel-style
// dump of every reserve and space_info (the end of the seed's log).
func (fs *FS) abortWithDump(err error, h *Handle) {
	if fs.Aborted() != nil {
		return
	}
	fmt.Fprint(fs.log, fs.DumpSpace(h))
	fs.abort(err)
}

// DumpSpace renders the space_info of every type and every reserve in the
// kernel's words; h's reserve stands for trans_block_rsv (nil: an empty
// one).
func (fs *FS) DumpSpace(h *Handle) string {
	trans := fs.alloc.NewRsv("trans_block_rsv", 0)
	if h != nil && h.rsv != nil {
		trans = h.rsv
	}
	var b bytes.Buffer
	fs.alloc.Dump(&b, fs.global, trans, fs.chunkRsv, fs.delayedItems, fs.delayedRefs)
	return b.String()
}

// noteAccountingError aborts on an impossible space transition, which is
// a bug or a corrupt extent tree.
func (fs *FS) noteAccountingError(err error) {
	fs.abort(fmt.Errorf("space accounting: %w", err))
}
