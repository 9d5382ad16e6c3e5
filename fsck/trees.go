package fsck

import (
	"cowfs/disk/format"
)

// RootItemFault is a ROOT_ITEM whose payload does not decode: the tree it
// names cannot be found.
type RootItemFault struct {
	Tree  uint64 // the tree holding the item (root tree or log root tree)
	Block uint64
	Slot  int
	Key   format.Key
	Err   error
}

// rootItems returns the trees pointed to by the ROOT_ITEMs of a usable leaf,
// in key order, and the items that do not decode.
func rootItems(v *Visit) ([]Tree, []RootItemFault) {
	l := format.Leaf(v.Block)
	if l.Header().Level() != 0 {
		return nil, nil
	}
	var trees []Tree
	var faults []RootItemFault
	for i := range l.NrItems() {
		k := l.ItemKey(i)
		if k.Type != format.RootItemKey {
			continue
		}
		data, err := l.ItemDataChecked(i)
		var ri *format.RootItem
		if err == nil {
			ri, err = format.DecodeRootItem(data)
		}
		if err != nil {
			faults = append(faults, RootItemFault{Tree: v.Tree.ID, Block: v.Expect.Bytenr, Slot: i, Key: k, Err: err})
			continue
		}
		trees = append(trees, Tree{ID: k.ObjectID, RootKey: &k, Bytenr: ri.Bytenr, Level: ri.Level,
			Generation: ri.Generation, Dropping: ri.DropProgressKey() != format.Key{}})
	}
	return trees, faults
}

// collector wraps a visit function to gather the ROOT_ITEM trees of the
// leaves it sees.
type collector struct {
	trees  []Tree
	faults []RootItemFault
}

func (c *collector) wrap(visit func(*Visit) bool) func(*Visit) bool {
	return func(v *Visit) bool {
		if v.Usable() {
			t, f := rootItems(v)
			c.trees = append(c.trees, t...)
			c.faults = append(c.faults, f...)
		}
		return visit(v)
	}
}

// Walker receives the trees of a full walk in order (Start, whose result
// says whether to walk that tree) and their blocks (Visit, whose result says
// whether to descend into a node's children).
type Walker interface {
	Start(t Tree) bool
	Visit(v *Visit) bool
}

// WalkAll walks every tree in dump-tree's order: the root tree, the chunk
// tree, the log root tree (when a log is pending), the trees of the root
// tree's ROOT_ITEMs in key order, then the log trees of the log root tree's
// ROOT_ITEMs. It returns the ROOT_ITEMs that could not be decoded.
func (img *Image) WalkAll(w Walker) []RootItemFault {
	var roots, logs collector
	walk := func(t Tree, visit func(*Visit) bool) {
		if w.Start(t) {
			img.Walk(t, visit)
		}
	}
	walk(img.RootTree(), roots.wrap(w.Visit))
	walk(img.ChunkTree(), w.Visit)
	if lt, ok := img.LogRootTree(); ok {
		walk(lt, logs.wrap(w.Visit))
	}
	for _, list := range [][]Tree{roots.trees, logs.trees} {
		for _, t := range list {
			walk(t, w.Visit)
		}
	}
	return append(roots.faults, logs.faults...)
}

// RootItemTrees walks the root tree quietly and returns the trees of its
// ROOT_ITEMs in key order (for dumping one tree by id).
func (img *Image) RootItemTrees() []Tree {
	var c collector
	img.Walk(img.RootTree(), c.wrap(func(*Visit) bool { return true }))
	return c.trees
}
