// Package inject is the test-only switch of the crash harness's self-test
// (issue 11, docs/crash.md "Self-test"): each Bug is a crash-consistency
// bug the code it names commits when the bug is on, so the harness can show
// that it catches it. Only tests turn one on; with none on (always, in the
// tools) every check below is one atomic load.
package inject

import (
	"fmt"
	"sync/atomic"
)

// Bug is an injectable bug.
type Bug int32

// The bugs.
const (
	None Bug = iota
	// NoFlushBeforeSuper: the commit writes its tree blocks and does not
	// flush before the superblock (transaction/commit.go, writeDirty).
	NoFlushBeforeSuper
	// SuperBeforeTrees: the commit writes the superblock before its tree
	// blocks (transaction/commit.go, commitSteps).
	SuperBeforeTrees
	// ReuseFreed: an extent freed in the running transaction is free
	// again at once, not pinned until the commit (alloc, UsedToPinned).
	ReuseFreed
	// OneSuperCopy: opening reads only the primary superblock, with no
	// fallback to a mirror (checker.ReadSuper).
	OneSuperCopy
	numBugs
)

var names = [...]string{"none", "no-flush-before-super", "super-before-trees", "reuse-freed", "one-super-copy"}

func (b Bug) String() string {
	if b >= 0 && b < numBugs {
		return names[b]
	}
	return fmt.Sprintf("bug-%d", int(b))
}

// All lists every bug.
func All() []Bug { return []Bug{NoFlushBeforeSuper, SuperBeforeTrees, ReuseFreed, OneSuperCopy} }

var on atomic.Int32

// Set turns bug b on (None: off) for the whole process and returns what
// restores the previous one. Tests only.
func Set(b Bug) (restore func()) {
	prev := on.Swap(int32(b))
	return func() { on.Store(prev) }
}

// On reports whether bug b is on.
func On(b Bug) bool { return b != None && on.Load() == int32(b) }
