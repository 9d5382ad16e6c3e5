package transaction

import (
	"sync"
	"sync/atomic"

	"cowfs/alloc"
)

// Transaction is the running transaction: its id (the generation every
// block it COWs gets), the set of blocks it dirtied, the extents it
// allocated whose references have not reached the extent tree yet, and
// its handles. There is one at a time; Commit ends it and starts the next.
//
// The dirty set holds addresses, not buffers: a dirty buffer must stay
// evictable (reclaim writes it back and drops it, the seed's step 6), and
// the commit writes whatever of the set is still dirty in the cache.
type Transaction struct {
	transid uint64
	handles atomic.Int64

	mu struct {
		sync.Mutex
		dirty map[uint64]struct{}
		fresh map[uint64]freshExtent
		// unreserve: blocks allocated and freed unwritten by this
		// transaction. They go back to free space at commit, not at once,
		// so that a concurrent Create never meets their buffer still
		// being discarded.
		unreserve   []alloc.Range
		sysChunks   bool // a SYSTEM chunk was added: rewrite sys_chunk_array
		createdTree bool
		// dropCsums: data extents whose extent item the delayed-ref
		// runner deleted; the commit deletes their checksums (csum.go).
		dropCsums []alloc.Range
		// csumRsv: data extents that may lose their checksums at commit,
		// with what they hold for deleting them (csum_rsv.go).
		csumRsv map[uint64]csumShare
	}
}

// freshExtent is an extent allocated by the running transaction whose
// extent item has not been inserted yet.
type freshExtent struct {
	length uint64
	data   bool
}

func newTransaction(transid uint64) *Transaction {
	t := &Transaction{transid: transid}
	t.mu.dirty = map[uint64]struct{}{}
	t.mu.fresh = map[uint64]freshExtent{}
	t.mu.csumRsv = map[uint64]csumShare{}
	return t
}

// Transid is the transaction's generation.
func (t *Transaction) Transid() uint64 { return t.transid }

func (t *Transaction) addDirty(bytenr uint64) {
	t.mu.Lock()
	t.mu.dirty[bytenr] = struct{}{}
	t.mu.Unlock()
}

// dirtyAddrs returns the dirty set.
func (t *Transaction) dirtyAddrs() []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]uint64, 0, len(t.mu.dirty))
	for b := range t.mu.dirty {
		out = append(out, b)
	}
	return out
}

// empty reports whether the transaction changed nothing.
func (t *Transaction) empty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.mu.dirty) == 0 && len(t.mu.fresh) == 0 && len(t.mu.unreserve) == 0 && !t.mu.createdTree
}

// ExtentInserted and ExtentDeleted are told by the delayed-ref runner
// about extent items it inserts and deletes (extentAccounting).
type accounting struct{ fs *FS }

func (ac accounting) ExtentInserted(bytenr, numBytes uint64, data bool) {
	t := ac.fs.current()
	t.mu.Lock()
	delete(t.mu.fresh, bytenr)
	t.mu.Unlock()
	if err := ac.fs.alloc.ReservedToUsed(bytenr, numBytes); err != nil {
		ac.fs.noteAccountingError(err)
	}
}

func (ac accounting) ExtentDeleted(bytenr, numBytes uint64, data bool) {
	if data {
		t := ac.fs.current()
		t.mu.Lock()
		t.mu.dropCsums = append(t.mu.dropCsums, alloc.Range{Start: bytenr, Len: numBytes})
		t.mu.Unlock()
	}
	if err := ac.fs.alloc.UsedToPinned(bytenr, numBytes); err != nil {
		ac.fs.noteAccountingError(err)
	}
}
