package fsck

import (
	"fmt"

	"cowfs/checker"
	"cowfs/disk"
)

// ReadError reports a tree block that could not be read at all: its logical
// address is not mapped by any chunk, or the device failed or ended.
type ReadError struct {
	Bytenr uint64
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("cannot read tree block %d: %v", e.Bytenr, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// ReadBlock reads the nodesize bytes of the tree block at exp.Bytenr through
// the chunk map and verifies them with the checker against exp: checksum,
// bytenr, fsid, level, generation, first key and owner, then structure and
// items. It returns the block, every checker problem (empty when the block
// is valid), and a *ReadError when nothing could be read. A block with
// problems is still returned, so the caller can decide what to trust (see
// Structural).
func (img *Image) ReadBlock(exp checker.Expect) ([]byte, []*checker.Error, error) {
	n := img.NodeSize()
	phys, err := img.Chunks.Physical(exp.Bytenr, uint64(n))
	if err != nil {
		return nil, nil, &ReadError{Bytenr: exp.Bytenr, Err: err}
	}
	block := make([]byte, n)
	if err := img.Dev.ReadAt(block, phys, disk.KindMeta); err != nil {
		return nil, nil, &ReadError{Bytenr: exp.Bytenr, Err: err}
	}
	return block, checker.CheckBlockAll(block, img.Ctx, exp), nil
}

// Structural reports whether errs leave the block's layout trustworthy: only
// item-content rules (#25 and above) failed, so its items and pointers can
// still be read without guessing.
func Structural(errs []*checker.Error) bool {
	for _, e := range errs {
		if e.Rule < checker.RuleFileExtent {
			return false
		}
	}
	return true
}

// Significant filters a block's checker problems down to those worth
// reporting. When the header does not match what the pointer to the block
// said (#12–#18), the block is not the one meant, and judging its structure
// would only add noise: then only the header problems remain.
func Significant(errs []*checker.Error) []*checker.Error {
	var header []*checker.Error
	for _, e := range errs {
		if e.Rule >= checker.RuleBytenr && e.Rule <= checker.RuleOwner {
			header = append(header, e)
		}
	}
	if len(header) > 0 {
		return header
	}
	return errs
}
