package fsck

import (
	"errors"
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// Kind classifies a problem. Callers switch on Kind (and Rule), never on
// Message.
type Kind int

// Problem kinds.
const (
	// KindSuper: a superblock copy fails the superblock rules (#1–#11), or its
	// fsid differs from the copy in use.
	KindSuper Kind = iota + 1
	// KindBlock: a tree block fails the checker (#12–#36); Err is the
	// *checker.Error.
	KindBlock
	// KindRead: a tree block or superblock copy could not be read: an
	// address no chunk maps, or a device error. Err is a *ReadError for
	// blocks.
	KindRead
	// KindDuplicate: a block reached twice, through a cycle or a second
	// pointer (snapshot sharing between subvolume trees excepted).
	KindDuplicate
	// KindMissingTree: a tree btrfs check needs has no ROOT_ITEM, or its root
	// block is unusable (#46).
	KindMissingTree
	// KindRootItem: a ROOT_ITEM that does not decode; its tree is not walked.
	KindRootItem
	// KindChunk: a CHUNK_ITEM the chunk map refuses (overlap, no stripes).
	KindChunk
	// KindStaleRoot: a ROOT_ITEM older than a tree block of its tree (#49).
	KindStaleRoot
	// KindExtentRef: an extent item disagrees with the tree blocks and file
	// extents referencing it: refs, backrefs, length, level, placement
	// (#50–#52).
	KindExtentRef
	// KindMisplacedKey: an item in a tree it does not belong to (#53).
	KindMisplacedKey
	// KindAllocation: chunks, block groups, dev extents, device items and
	// the byte counters do not agree (#54–#57).
	KindAllocation
	// KindFreeSpace: the free-space tree disagrees with the extent tree (#58).
	KindFreeSpace
	// KindFsTree: an inode, name or file extent of a subvolume tree breaks
	// the fs-root rules (#60–#66).
	KindFsTree
	// KindCsum: a checksum item overlaps another, lies outside every data
	// extent, or (with Options.CheckDataCsum) does not match the data (#67).
	KindCsum
	// KindRootRef: a subvolume's ROOT_REF, ROOT_BACKREF and directory
	// entries disagree, or a required root has no references (#68).
	KindRootRef
)

var kindNames = map[Kind]string{
	KindSuper: "superblock", KindBlock: "tree block", KindRead: "read",
	KindDuplicate: "duplicate block", KindMissingTree: "missing tree",
	KindRootItem: "root item", KindChunk: "chunk",
	KindStaleRoot: "stale root item", KindExtentRef: "extent reference",
	KindMisplacedKey: "misplaced key", KindAllocation: "allocation",
	KindFreeSpace: "free space", KindFsTree: "fs tree", KindCsum: "checksum",
	KindRootRef: "root reference",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind-%d", int(k))
}

// Problem is one fault found by Check, with where it is.
type Problem struct {
	Kind Kind
	Rule int // btrfs-format.md §3 rule number; 0 when no single rule applies
	// Tree is the tree being walked (0 for a superblock). Block is the
	// block's logical address, or a superblock copy's physical offset.
	Tree  uint64
	Block uint64
	Slot  int         // item or pointer slot; -1 when none
	Key   *format.Key // key of that slot, when known
	// Message is one line locating the fault, in the kernel's wording when
	// the checker produced it.
	Message string
	Err     error // the typed cause (*checker.Error, *ReadError, ...)
}

func (p Problem) String() string { return p.Message }

// TreeStats counts what one tree walk reached. Blocks shared with a tree
// walked earlier (snapshots) are counted there only.
type TreeStats struct {
	Tree   Tree
	Blocks int
	Items  int
}

// Report is the result of Check.
type Report struct {
	Problems []Problem
	// Warnings are suspicious but legal states (superblock rule #11, and a
	// few of the cross-reference rules).
	Warnings []Problem
	// Notes are harmless leftovers of the tools that wrote the image, which
	// btrfs check 6.2 says nothing about: neither problems nor warnings, and
	// the command does not print them (docs/fsck.md lists them).
	Notes []Problem
	// Skipped names the families of cross-reference checks that did not run
	// because a tree they need was not read whole (its damage is already a
	// problem). Empty when every check ran.
	Skipped []string
	Blocks  int // distinct tree blocks reached
	Items   int // items in the leaves that verified
	Trees   []TreeStats
	// Truncated is set when Options.MaxProblems stopped the check early.
	Truncated bool
}

// Clean reports whether no problem was found.
func (r *Report) Clean() bool { return len(r.Problems) == 0 }

// Summary is one line: "checked N blocks in M trees: no problems found" or
// "... K problems found".
func (r *Report) Summary() string {
	s := fmt.Sprintf("checked %d blocks in %d trees: ", r.Blocks, len(r.Trees))
	switch n := len(r.Problems); {
	case n == 0:
		return s + "no problems found"
	case n == 1:
		return s + "1 problem found"
	case r.Truncated:
		return s + fmt.Sprintf("%d problems found (stopped early)", n)
	default:
		return s + fmt.Sprintf("%d problems found", n)
	}
}

// ErrProblems marks the error Report.Err returns.
var ErrProblems = errors.New("fsck found problems")

// Err is nil for a clean report; otherwise an error wrapping ErrProblems
// whose text is the summary and the first ten problems, one per line (for
// tests: require.NoError(t, rep.Err())).
func (r *Report) Err() error {
	if r.Clean() {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Summary())
	for i, p := range r.Problems {
		if i == 10 {
			fmt.Fprintf(&b, "\n... and %d more", len(r.Problems)-i)
			break
		}
		b.WriteString("\n" + p.Message)
	}
	return fmt.Errorf("%w: %s", ErrProblems, b.String())
}
