package checker

import (
	"fmt"
	"math/bits"

	"cowfs/disk/format"
)

// Context is what the rules need to know about the filesystem.
type Context struct {
	Fsid       format.UUID   // metadata fsid: every tree block header carries it
	SeedFsids  []format.UUID // fsids of seed devices, also accepted in headers
	NodeSize   uint32
	SectorSize uint32
	CsumType   format.CsumType
	// SuperGeneration is the superblock's generation; item generations may be
	// at most one above it. 0 means unknown: those bounds are not checked.
	SuperGeneration uint64
	Incompat        uint64 // superblock incompat flags (SKINNY_METADATA, MIXED_GROUPS, ...)
	// ReadOnly accepts unknown read-only-compat inode flags, as a read-only
	// mount does; the zero value (read-write) rejects them.
	ReadOnly bool
}

// ContextFromSuper builds the Context of the filesystem s describes.
func ContextFromSuper(s *format.Super) Context {
	return Context{
		Fsid:            s.MetadataFsid(),
		NodeSize:        s.NodeSize,
		SectorSize:      s.SectorSize,
		CsumType:        s.CsumType,
		SuperGeneration: s.Generation,
		Incompat:        s.IncompatFlags,
	}
}

// Expect is what the reader of a tree block knows from where it found the
// pointer (parent node, ROOT_ITEM or superblock). Bytenr is always checked.
type Expect struct {
	Bytenr     uint64
	Level      int         // -1: unknown
	Generation uint64      // 0: unknown
	FirstKey   *format.Key // nil: unknown
	Owner      uint64      // 0: unknown
}

// ExpectAt is an Expect that knows only the block's address.
func ExpectAt(bytenr uint64) Expect { return Expect{Bytenr: bytenr, Level: -1} }

// ExpectChild is the Expect for the child behind pointer slot of node parent
// (a block that passed CheckBlock), in the tree owner. ok is false when parent
// is not a node or slot is not one of its pointers.
func ExpectChild(parent []byte, slot int, owner uint64) (exp Expect, ok bool) {
	n := format.Node(parent)
	if len(parent) < format.HeaderSize || slot < 0 || !n.PtrInBounds(slot) ||
		slot >= n.NrItems() || n.Header().Level() == 0 {
		return Expect{Level: -1}, false
	}
	k := n.Key(slot)
	return Expect{
		Bytenr:     n.BlockPtr(slot),
		Level:      int(n.Header().Level()) - 1,
		Generation: n.PtrGeneration(slot),
		FirstKey:   &k,
		Owner:      owner,
	}, true
}

// validate explains why the context cannot be used, or returns "".
func (c *Context) validate() string {
	switch {
	case !isPow2(uint64(c.NodeSize)) || c.NodeSize < 4096 || c.NodeSize > 65536:
		return fmt.Sprintf("invalid checker context: nodesize %d", c.NodeSize)
	case !isPow2(uint64(c.SectorSize)) || c.SectorSize > c.NodeSize:
		return fmt.Sprintf("invalid checker context: sectorsize %d", c.SectorSize)
	case !c.CsumType.Valid():
		return fmt.Sprintf("invalid checker context: csum type %d", c.CsumType)
	}
	return ""
}

// aligned reports whether v is a multiple of the sector size (never true for
// a zero sector size, so a bad context cannot divide by zero).
func (c *Context) aligned(v uint64) bool {
	return c.SectorSize != 0 && v%uint64(c.SectorSize) == 0
}

// genOK reports whether g is at most one above the superblock generation.
func (c *Context) genOK(g uint64) bool {
	s := c.SuperGeneration
	return s == 0 || g <= s || g-s == 1
}

// genLimit is the Expect text for a generation bound.
func (c *Context) genLimit() string { return fmt.Sprintf("(0, %d]", c.SuperGeneration+1) }

func (c *Context) hasIncompat(f uint64) bool { return c.Incompat&f != 0 }

func (c *Context) csumSize() int { return c.CsumType.Size() }

func isPow2(v uint64) bool { return v != 0 && bits.OnesCount64(v) == 1 }

// addSat adds without wrapping: the sum saturates at 2^64-1.
func addSat(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return ^uint64(0)
	}
	return s
}
