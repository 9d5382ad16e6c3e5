package transaction

import (
	"errors"
	"fmt"

	"cowfs/alloc"
	"cowfs/disk/format"
)

// FlushState is one way Start makes room when a reservation cannot be
// met: the kernel's flush_space states that apply to cowfs, cheapest
// first (docs/transaction.md, "Flushing for space").
type FlushState int

const (
	// FlushDelalloc: the OnNoSpace hook writes buffered file data, which
	// gives back its metadata reservation (FLUSH_DELALLOC).
	FlushDelalloc FlushState = iota
	// FlushAllocChunk: a new METADATA chunk once the groups are 80% used
	// (ALLOC_CHUNK, should_alloc_chunk without force).
	FlushAllocChunk
	// FlushCommit: a commit, which frees pinned extents and the
	// delayed-refs reserve (COMMIT_TRANS).
	FlushCommit
	NumFlushStates
)

var flushNames = [NumFlushStates]string{"flush_delalloc", "alloc_chunk", "commit_trans"}

func (s FlushState) String() string {
	if s < 0 || s >= NumFlushStates {
		return fmt.Sprintf("flush-state-%d", int(s))
	}
	return flushNames[s]
}

// flushSteps are the states in the order Start runs them.
var flushSteps = [NumFlushStates]func(*FS) (bool, error){
	FlushDelalloc:   (*FS).flushDelalloc,
	FlushAllocChunk: (*FS).flushAllocChunk,
	FlushCommit:     (*FS).flushCommit,
}

// reserveOrFlush runs try, a reservation; while it fails for lack of space
// it runs the next flush state that did something and tries again.
func (fs *FS) reserveOrFlush(try func() (*Handle, error)) (*Handle, error) {
	h, err := try()
	for s := range NumFlushStates {
		if !errors.Is(err, alloc.ErrNoSpace) {
			return h, err
		}
		ran, ferr := flushSteps[s](fs)
		if ferr != nil {
			return nil, ferr
		}
		if ran {
			fs.stats.flushes[s].Add(1)
			h, err = try()
		}
	}
	return h, err
}

// flushDelalloc runs the OnNoSpace hook; it reports whether the hook gave
// back any reservation.
func (fs *FS) flushDelalloc() (bool, error) {
	fn := fs.onNoSpace.Load()
	return fn != nil && (*fn)(), nil
}

// flushAllocChunk adds a METADATA chunk in a joined handle, as the
// kernel's ALLOC_CHUNK does, when the groups are full enough for one.
func (fs *FS) flushAllocChunk() (bool, error) {
	if !fs.alloc.ShouldAllocChunk(format.BlockGroupMetadata) {
		return false, nil
	}
	h, err := fs.Join()
	if err != nil {
		return false, err
	}
	_, cerr := fs.alloc.NewChunk(format.BlockGroupMetadata)
	if err := h.End(); err != nil {
		return false, err
	}
	if errors.Is(cerr, alloc.ErrNoSpace) {
		return false, nil
	}
	return cerr == nil, cerr
}

// flushCommit commits when a commit would release space.
func (fs *FS) flushCommit() (bool, error) {
	if !fs.commitWouldFree() {
		return false, nil
	}
	return true, fs.Commit()
}
