package fsck

import (
	"cowfs/checker"
	"cowfs/disk/format"
)

// Tree is one tree to walk: its id (the owner its blocks carry) and the
// root pointer found in the superblock or a ROOT_ITEM.
type Tree struct {
	ID uint64
	// RootKey is the key of the ROOT_ITEM pointing to the tree; nil for the
	// trees the superblock points to (root, chunk, log root).
	RootKey    *format.Key
	Bytenr     uint64
	Level      uint8
	Generation uint64
	// Dropping is set for a tree whose deletion has begun (its ROOT_ITEM's
	// drop_progress is set): blocks it no longer owns may already be reused.
	Dropping bool
}

// rootExpect is what the tree's root block must look like.
func (t Tree) rootExpect() checker.Expect {
	return checker.Expect{Bytenr: t.Bytenr, Level: int(t.Level), Generation: t.Generation, Owner: t.ID}
}

// RootTree is the root tree, from the superblock.
func (img *Image) RootTree() Tree {
	s := img.Super
	return Tree{ID: format.RootTreeObjectID, Bytenr: s.Root, Level: s.RootLevel, Generation: s.Generation}
}

// ChunkTree is the chunk tree, from the superblock.
func (img *Image) ChunkTree() Tree {
	s := img.Super
	return Tree{ID: format.ChunkTreeObjectID, Bytenr: s.ChunkRoot, Level: s.ChunkRootLevel, Generation: s.ChunkRootGeneration}
}

// LogRootTree is the log root tree, whose blocks carry the superblock
// generation + 1; ok is false when no log is pending.
func (img *Image) LogRootTree() (Tree, bool) {
	s := img.Super
	t := Tree{ID: format.TreeLogObjectID, Bytenr: s.LogRoot, Level: s.LogRootLevel, Generation: s.Generation + 1}
	return t, s.LogRoot != 0
}

// Visit is one block reached by a walk.
type Visit struct {
	Tree   *Tree
	Expect checker.Expect // what the pointer to the block said
	Parent uint64         // address of the node pointing here; 0 for the root
	Slot   int            // pointer slot in Parent; -1 for the root
	// Dup is set when the block was already reached in this walk: it is
	// neither read nor descended into again.
	Dup   bool
	Block []byte           // the block's bytes; nil when Dup or unreadable
	Errs  []*checker.Error // checker problems; empty for a valid block
	Err   error            // *ReadError when the block could not be read
}

// Usable reports whether the block was read and its structure verified,
// so its items or pointers can be used.
func (v *Visit) Usable() bool { return v.Block != nil && Structural(v.Errs) }

// pending is a pointer waiting to be followed.
type pending struct {
	exp    checker.Expect
	parent uint64
	slot   int
}

// Walk visits every block of t breadth first: the root, then each level
// left to right, leaves last (dump-tree's default order). visit is called for
// every block, readable or not; it returns false to leave a node's children
// unvisited. A block is descended into only when Usable; since every child
// must be one level below its parent, a walk always ends.
func (img *Image) Walk(t Tree, visit func(*Visit) bool) {
	seen := map[uint64]bool{}
	level := []pending{{exp: t.rootExpect(), slot: -1}}
	for len(level) > 0 {
		var next []pending
		for _, p := range level {
			v := img.visitOne(&t, p, seen)
			if visit(v) && v.Usable() && !v.Dup {
				next = append(next, children(v, t.ID)...)
			}
		}
		level = next
	}
}

// visitOne reads one pending block, unless this walk has seen it.
func (img *Image) visitOne(t *Tree, p pending, seen map[uint64]bool) *Visit {
	v := &Visit{Tree: t, Expect: p.exp, Parent: p.parent, Slot: p.slot}
	if seen[p.exp.Bytenr] {
		v.Dup = true
		return v
	}
	seen[p.exp.Bytenr] = true
	v.Block, v.Errs, v.Err = img.ReadBlock(p.exp)
	return v
}

// children lists the pointers of a node, with what each child must match.
func children(v *Visit, owner uint64) []pending {
	n := format.Node(v.Block)
	if n.Header().Level() == 0 {
		return nil
	}
	var out []pending
	for i := 0; i < n.NrItems(); i++ {
		exp, ok := checker.ExpectChild(v.Block, i, owner)
		if !ok {
			break
		}
		out = append(out, pending{exp: exp, parent: v.Expect.Bytenr, slot: i})
	}
	return out
}
