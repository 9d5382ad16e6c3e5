package fsck

import (
	"fmt"
	"slices"

	"cowfs/disk/format"
)

// xref gathers, during the walk, every fact the cross-reference checks of
// btrfs-format.md §3.7 (#49–#68) compare, and nothing is compared until the
// walk is over. Each block is read once: the walk hands every usable block
// to block, which records its pointers and items in compact slices (no
// per-extent maps, no block bytes kept); the checks then sort and merge
// those slices. Only the fs-root checks (#60–#66) read blocks again, one
// subvolume tree at a time, because a snapshot's inodes live partly in
// blocks the main walk reached through another tree.
//
// Log trees are left out: their blocks and data are not in the extent tree.
type xref struct {
	img   *Image
	ext   extentFacts
	alloc allocFacts
	free  freeSpaceFacts
	csum  csumFacts
	roots rootFacts
	// misplaced are items found in a tree they do not belong to (#53).
	misplaced []loc
	// subvolEntries are directory entries naming a subvolume, found by the
	// fs-root pass; #68 matches them with ROOT_REFs.
	subvolEntries []subvolEntry
	// incomplete holds every tree whose walk missed a block (unreadable,
	// damaged, reached twice) or was not walked (being deleted): checks
	// needing all of such a tree are skipped (Report.Skipped).
	incomplete map[uint64]bool
	// bad holds the blocks the walk could not use: the fs-root pass, which
	// reads blocks again without the checker, stops at them.
	bad        map[uint64]bool
	rootFaults int // ROOT_ITEMs that did not decode: their trees were not walked
	// fsChecked holds the subvolume trees the fs-root pass checked: only
	// their directory entries count for #68.
	fsChecked map[uint64]bool
}

func newXref(img *Image, opts Options) *xref {
	x := &xref{img: img, incomplete: map[uint64]bool{}, bad: map[uint64]bool{}, fsChecked: map[uint64]bool{}}
	x.csum.verify = opts.CheckDataCsum
	return x
}

// loc locates an item (or, with slot -1, a block) for a problem message.
type loc struct {
	tree, block uint64
	slot        int
	key         format.Key
	hasKey      bool
}

func itemLoc(tree, block uint64, slot int, k format.Key) loc {
	return loc{tree: tree, block: block, slot: slot, key: k, hasKey: true}
}

func blockLoc(tree, block uint64) loc { return loc{tree: tree, block: block, slot: -1} }

// superLoc locates a superblock field: the primary copy.
func superLoc() loc { return loc{block: format.SuperInfoOffset, slot: -1} }

func (l loc) String() string {
	switch {
	case l.tree == 0 && l.block == format.SuperInfoOffset && !l.hasKey:
		return "superblock"
	case l.hasKey && l.block == 0:
		return fmt.Sprintf("root=%d key %v", l.tree, l.key)
	case l.hasKey:
		return fmt.Sprintf("root=%d block=%d slot=%d key %v", l.tree, l.block, l.slot, l.key)
	}
	return fmt.Sprintf("root=%d block=%d", l.tree, l.block)
}

// xadd reports a cross-reference problem: "<kind> (#rule): <where>, <what>".
func (r *run) xadd(kind Kind, rule int, at loc, msg string, args ...any) {
	r.add(xproblem(kind, rule, at, msg, args...))
}

// xwarn records a warning in the same form.
func (r *run) xwarn(kind Kind, rule int, at loc, msg string, args ...any) {
	r.rep.Warnings = append(r.rep.Warnings, xproblem(kind, rule, at, msg, args...))
}

// xnote records a note in the same form.
func (r *run) xnote(kind Kind, rule int, at loc, msg string, args ...any) {
	r.rep.Notes = append(r.rep.Notes, xproblem(kind, rule, at, msg, args...))
}

func xproblem(kind Kind, rule int, at loc, msg string, args ...any) Problem {
	p := Problem{Kind: kind, Rule: rule, Tree: at.tree, Block: at.block, Slot: at.slot,
		Message: fmt.Sprintf("%v (#%d): %v, ", kind, rule, at) + fmt.Sprintf(msg, args...)}
	if at.hasKey {
		k := at.key
		p.Key = &k
	}
	return p
}

// unusable notes a block the walk could not read or trust.
func (x *xref) unusable(v *Visit) {
	x.incomplete[v.Tree.ID] = true
	x.bad[v.Expect.Bytenr] = true
}

// complete reports whether every listed tree was read whole.
func (x *xref) complete(ids ...uint64) bool {
	for _, id := range ids {
		if x.incomplete[id] {
			return false
		}
	}
	return true
}

// whole reports whether every tree but the logs was found and read whole:
// reference counts need every pointer and every file extent.
func (x *xref) whole() bool {
	if x.rootFaults > 0 {
		return false
	}
	for id, bad := range x.incomplete {
		if bad && id != format.TreeLogObjectID {
			return false
		}
	}
	return true
}

// skipped records that a family of checks did not run.
func (r *run) skipped(what string, rules string) {
	r.rep.Skipped = append(r.rep.Skipped, fmt.Sprintf("%s (%s)", rules, what))
}

// root records the pointer to a tree's root block, from its ROOT_ITEM or
// the superblock.
func (x *xref) root(t Tree) {
	if t.ID == format.TreeLogObjectID {
		return
	}
	x.ext.treeRefs = append(x.ext.treeRefs, treeRef{child: t.Bytenr, owner: t.ID, level: t.Level})
}

// block records what one usable block says: a node's pointers, or a leaf's
// items.
func (x *xref) block(v *Visit) {
	if v.Tree.ID == format.TreeLogObjectID {
		return
	}
	if v.Slot < 0 {
		x.ext.rootBlock(v)
	}
	if format.Header(v.Block).Level() > 0 {
		x.ext.pointers(v)
		return
	}
	l := format.Leaf(v.Block)
	owner := l.Header().Owner()
	for i := range l.NrItems() {
		data, err := l.ItemDataChecked(i)
		if err != nil {
			continue
		}
		x.item(v.Tree.ID, owner, v.Expect.Bytenr, i, l.ItemKey(i), data)
	}
}

// sortFacts orders the records the checks merge: extents and block groups
// by start, dev extents by device and offset. Each tree's leaves come in
// key order, so this mostly confirms the order.
func (x *xref) sortFacts() {
	slices.SortStableFunc(x.ext.recs, func(a, b extentRec) int { return cmpU64(a.start, b.start) })
	slices.SortStableFunc(x.alloc.bgs, func(a, b bgRec) int { return cmpU64(a.start, b.start) })
	slices.SortStableFunc(x.alloc.devExts, func(a, b devExtRec) int {
		if c := cmpU64(a.devid, b.devid); c != 0 {
			return c
		}
		return cmpU64(a.phys, b.phys)
	})
	slices.SortStableFunc(x.csum.items, func(a, b csumRec) int { return cmpU64(a.start, b.start) })
}

// crossCheck runs the cross-reference checks once the walk is over. With
// MaxProblems reached the walk stopped early, and nothing is compared.
func (r *run) crossCheck() {
	if r.full() {
		return
	}
	r.x.sortFacts()
	r.misplacedKeys()
	r.checkExtents()
	r.checkAllocation()
	r.checkUsage()
	r.checkFreeSpace()
	r.checkCsums()
	r.checkFsRoots()
	r.checkRootRefs()
}
