package fsck

import (
	"fmt"

	"cowfs/disk/format"
)

// Visit judges one block of the current walk; it returns whether to descend.
func (r *run) Visit(v *Visit) bool {
	if r.full() {
		r.rep.Truncated = true
		return false
	}
	if v.Dup {
		r.x.incomplete[v.Tree.ID] = true
		r.duplicate(v, "reached twice in the same tree (a cycle or a double reference)")
		return false
	}
	if s, ok := r.seen[v.Expect.Bytenr]; ok {
		return r.revisit(v, s)
	}
	s := &seenBlock{tree: r.cur}
	r.seen[v.Expect.Bytenr] = s
	r.rep.Blocks++
	r.rep.Trees[r.cur].Blocks++
	s.descended = r.judge(v)
	return s.descended
}

// judge reports a block's problems and counts its items; it returns whether
// the block can be descended into.
func (r *run) judge(v *Visit) bool {
	if v.Err != nil || !v.Usable() {
		r.x.unusable(v)
	}
	if v.Err != nil {
		r.add(Problem{Kind: KindRead, Tree: v.Tree.ID, Block: v.Expect.Bytenr, Slot: v.Slot,
			Message: r.where(v) + v.Err.Error(), Err: v.Err})
		return false
	}
	r.blockProblems(v)
	if !v.Usable() {
		return false
	}
	if v.Slot < 0 {
		r.markWalked(v.Tree.ID)
	}
	if format.Header(v.Block).Level() == 0 {
		n := format.Leaf(v.Block).NrItems()
		r.rep.Items += n
		r.rep.Trees[r.cur].Items += n
	}
	r.x.block(v)
	return true
}

// revisit handles a block already reached by an earlier tree walk. Only
// subvolume trees (and their relocation copies) may share blocks, and never
// a root block; the shared block is still checked against this parent's
// pointer, and descended into only if no walk has done so yet.
func (r *run) revisit(v *Visit, s *seenBlock) bool {
	first := r.rep.Trees[s.tree].Tree
	if v.Slot < 0 || !shareable(first.ID) || !shareable(v.Tree.ID) {
		r.x.incomplete[v.Tree.ID] = true
		r.duplicate(v, fmt.Sprintf("already reached from tree %s", treeLabel(first)))
		return false
	}
	r.blockProblems(v)
	if !v.Usable() {
		r.x.unusable(v)
	}
	if s.descended || !v.Usable() {
		return false
	}
	s.descended = true
	r.x.block(v)
	return true
}

// blockProblems reports the checker's problems with a block.
func (r *run) blockProblems(v *Visit) {
	for _, e := range Significant(v.Errs) {
		r.add(Problem{Kind: KindBlock, Rule: e.Rule, Tree: v.Tree.ID, Block: v.Expect.Bytenr,
			Slot: e.Slot, Key: e.Key, Message: e.Error(), Err: e})
	}
}

// shareable reports whether a tree's blocks may also belong to another
// tree: subvolumes share with their snapshots, reloc trees with subvolumes.
func shareable(id uint64) bool {
	return format.IsSubvolumeID(id) || id == format.TreeRelocObjectID
}

func (r *run) duplicate(v *Visit, why string) {
	r.add(Problem{Kind: KindDuplicate, Tree: v.Tree.ID, Block: v.Expect.Bytenr, Slot: v.Slot,
		Message: r.where(v) + "block " + fmt.Sprint(v.Expect.Bytenr) + " " + why})
}

// where locates a visit the way the checker's messages do.
func (r *run) where(v *Visit) string {
	if v.Slot < 0 {
		return fmt.Sprintf("tree %s root: ", treeLabel(*v.Tree))
	}
	return fmt.Sprintf("tree %s: parent=%d slot=%d, ", treeLabel(*v.Tree), v.Parent, v.Slot)
}

// treeLabel names a tree in messages: "5", "EXTENT_TREE", "TREE_LOG (5)".
func treeLabel(t Tree) string {
	name := fmt.Sprint(t.ID)
	if !format.IsSubvolumeID(t.ID) {
		name = format.TreeName(t.ID)
	}
	if t.RootKey != nil && t.ID == format.TreeLogObjectID {
		name += fmt.Sprintf(" (%d)", t.RootKey.Offset)
	}
	return name
}

func (r *run) markWalked(id uint64) {
	if r.walked == nil {
		r.walked = map[uint64]bool{}
	}
	r.walked[id] = true
}

func (r *run) markDropping(id uint64) {
	if r.dropping == nil {
		r.dropping = map[uint64]bool{}
	}
	r.dropping[id] = true
}
