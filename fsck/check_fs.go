package fsck

import (
	"errors"
	"fmt"

	"cowfs/checker"
	"cowfs/disk/format"
)

// supers checks every superblock copy that fits the device (#1–#11) and that
// each one belongs to the filesystem of the copy in use. Copies past the
// filesystem's own device size (dev_item.total_bytes, when the filesystem is
// smaller than its file or device) are not part of it and are not judged.
func (r *run) supers() {
	fsEnd := int64(r.img.Super.DevItem.TotalBytes)
	for _, c := range r.img.Supers {
		if c.Mirror > 0 && c.Offset+format.SuperSize > fsEnd {
			continue
		}
		if c.Super == nil {
			r.add(Problem{Kind: KindRead, Block: uint64(c.Offset), Slot: -1,
				Message: fmt.Sprintf("superblock %s: %v", mirrorLabel(c.Mirror, c.Offset), c.Err), Err: c.Err})
			continue
		}
		errs, warns := checker.CheckSuperAll(c.Super, nil, c.Offset)
		if c.Super.Magic == format.Magic {
			if e, ok := errors.AsType[*checker.Error](checker.CheckSuperFsid(c.Super, r.img.Super.Fsid)); ok {
				errs = append(errs, e)
			}
		}
		for _, e := range errs {
			r.add(superProblem(c.Mirror, c.Offset, e))
		}
		for _, e := range warns {
			r.rep.Warnings = append(r.rep.Warnings, superProblem(c.Mirror, c.Offset, e))
		}
	}
}

func superProblem(mirror int, off int64, e *checker.Error) Problem {
	return Problem{Kind: KindSuper, Rule: e.Rule, Block: uint64(off), Slot: -1, Key: e.Key,
		Message: fmt.Sprintf("superblock %s: %v", mirrorLabel(mirror, off), e), Err: e}
}

func mirrorLabel(mirror int, off int64) string {
	if mirror == 0 {
		return fmt.Sprintf("primary at %d", off)
	}
	return fmt.Sprintf("mirror %d at %d", mirror, off)
}

// chunks reports the chunk-tree CHUNK_ITEMs the chunk map refused.
func (r *run) chunks() {
	for _, f := range r.img.chunkFaults {
		k := f.key
		r.add(Problem{Kind: KindChunk, Rule: checker.RuleChunk, Tree: format.ChunkTreeObjectID, Block: f.block,
			Slot: f.slot, Key: &k, Err: f.err,
			Message: fmt.Sprintf("corrupt leaf: root=%d block=%d slot=%d, chunk %d not mapped: %v",
				format.ChunkTreeObjectID, f.block, f.slot, k.Offset, f.err)})
	}
}

func (r *run) rootItemFault(f RootItemFault) {
	k := f.Key
	r.add(Problem{Kind: KindRootItem, Rule: checker.RuleRootItem, Tree: f.Tree, Block: f.Block, Slot: f.Slot,
		Key: &k, Err: f.Err,
		Message: fmt.Sprintf("corrupt leaf: root=%d block=%d slot=%d, ROOT_ITEM of tree %d unusable, tree not checked: %v",
			f.Tree, f.Block, f.Slot, k.ObjectID, f.Err)})
}

// requiredTrees are the trees btrfs check cannot open a filesystem without
// (#46), plus the data-reloc tree the kernel needs to mount (#40).
var requiredTrees = []uint64{
	format.ChunkTreeObjectID, format.RootTreeObjectID, format.ExtentTreeObjectID,
	format.DevTreeObjectID, format.FSTreeObjectID, format.CsumTreeObjectID,
	format.DataRelocTreeObjectID,
}

// required reports every required tree whose root block was not usable,
// including those without a ROOT_ITEM.
func (r *run) required() {
	need := requiredTrees
	if r.img.Super.CompatRoFlags&format.CompatRoFreeSpaceTree != 0 {
		need = append(need[:len(need):len(need)], format.FreeSpaceTreeObjectID)
	}
	for _, id := range need {
		if r.walked[id] {
			continue
		}
		why := "its root block is unusable"
		switch {
		case r.dropping[id]:
			why = "its deletion has begun"
		case !r.hasTree(id):
			why = "no ROOT_ITEM points to it"
		}
		r.add(Problem{Kind: KindMissingTree, Rule: 46, Tree: id, Slot: -1,
			Message: fmt.Sprintf("required tree %s missing: %s", format.TreeName(id), why)})
	}
}

// hasTree reports whether the walk started a tree with this id.
func (r *run) hasTree(id uint64) bool {
	for _, t := range r.rep.Trees {
		if t.Tree.ID == id {
			return true
		}
	}
	return false
}
