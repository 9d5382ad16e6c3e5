package ctree

import (
	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk/format"
)

// Verify walks the whole tree and checks what one block's checker cannot:
// every block passes checker.CheckLeaf / CheckNode (key order and item
// layout within the block, nritems bounds); its header names its own
// address and the tree as owner; every pointer's generation and the child
// level match the child's header; each child's first key equals its
// parent's key; every key lies below the next parent key, so keys increase
// across blocks; only the root leaf may be empty. It returns the first
// fault as a *checker.Error of KindTree (errors.Is format.ErrCorrupt).
//
// Blocks are read through the cache and read-locked top-down while
// checked, so Verify may run beside searches, but it is meant for a quiet
// tree: a concurrent change may move items between blocks it has and has
// not visited yet.
func Verify(root *Root) error {
	ctx := root.env.Ctx
	ctx.SuperGeneration = 0 // item generations may be newer than any superblock yet
	v := &verifier{root: root, c: root.env.Cache, ctx: ctx}
	eb := root.grabNode()
	eb.RLock()
	defer v.c.Release(eb)
	defer eb.RUnlock()
	return v.block(eb, nil, nil)
}

type verifier struct {
	root *Root
	c    *cache.Cache
	ctx  checker.Context
}

// block checks eb (read-locked) whose keys must lie in [*lo, *hi); lo is
// nil for the root (no parent key), hi nil when nothing bounds it.
func (v *verifier) block(eb *cache.ExtentBuffer, lo, hi *format.Key) error {
	h := eb.Header()
	bad := func(rule int, reason string) *checker.Error {
		return corrupt(rule, v.root.ID, eb.Bytenr, int(h.Level()), -1, reason)
	}
	switch {
	case h.Bytenr() != eb.Bytenr:
		return bad(checker.RuleBytenr, "header bytenr mismatch").WithHE(h.Bytenr(), eb.Bytenr)
	case h.Owner() != v.root.ID:
		return bad(checker.RuleOwner, "owner mismatch").WithHE(h.Owner(), v.root.ID)
	case h.Level() == 0:
		return v.leaf(eb, lo, hi)
	}
	return v.node(eb, lo, hi)
}

func (v *verifier) leaf(eb *cache.ExtentBuffer, lo, hi *format.Key) error {
	cp := append([]byte(nil), eb.Data()...)
	format.Header(cp).SetWritten(true) // the item rules run on written leaves only
	if err := checker.CheckLeaf(cp, v.ctx); err != nil {
		return corruptBy(err, v.root.ID, eb.Bytenr, 0, -1, "leaf check failed")
	}
	l := eb.Leaf()
	n := l.NrItems()
	if n == 0 {
		if lo != nil {
			return corrupt(checker.RuleEmptyLeaf, v.root.ID, eb.Bytenr, 0, -1, "empty leaf below a node")
		}
		return nil
	}
	return v.bounds(eb, l.ItemKey(0), l.ItemKey(n-1), n-1, lo, hi)
}

func (v *verifier) node(eb *cache.ExtentBuffer, lo, hi *format.Key) error {
	if err := checker.CheckNode(eb.Data(), v.ctx); err != nil {
		return corruptBy(err, v.root.ID, eb.Bytenr, int(eb.Header().Level()), -1, "node check failed")
	}
	n := eb.Node()
	nr := n.NrItems()
	if err := v.bounds(eb, n.Key(0), n.Key(nr-1), nr-1, lo, hi); err != nil {
		return err
	}
	for i := range nr {
		next := hi
		if i+1 < nr {
			k := n.Key(i + 1)
			next = &k
		}
		if err := v.child(eb, i, next); err != nil {
			return err
		}
	}
	return nil
}

// child reads, read-locks and checks the child at slot of parent.
func (v *verifier) child(parent *cache.ExtentBuffer, slot int, hi *format.Key) error {
	exp, _ := checker.ExpectChild(parent.Data(), slot, v.root.ID)
	eb, err := v.c.Get(exp)
	if err != nil {
		return corruptBy(err, v.root.ID, parent.Bytenr, exp.Level+1, slot, "child unreadable")
	}
	defer v.c.Release(eb)
	eb.RLock()
	defer eb.RUnlock()
	if err := childMismatch(v.root.ID, parent, slot, eb); err != nil {
		return err
	}
	return v.block(eb, exp.FirstKey, hi)
}

// bounds checks a block's first and last keys against its parent's key lo
// (the first key must equal it) and the next parent key hi.
func (v *verifier) bounds(eb *cache.ExtentBuffer, first, last format.Key, lastSlot int, lo, hi *format.Key) error {
	level := int(eb.Header().Level())
	switch {
	case lo != nil && first.Compare(*lo) != 0:
		return corrupt(checker.RuleFirstKey, v.root.ID, eb.Bytenr, level, 0, "first key does not match parent key").
			WithHE(first, *lo)
	case hi != nil && last.Compare(*hi) >= 0:
		return corrupt(checker.RuleKeyOrder, v.root.ID, eb.Bytenr, level, lastSlot, "key not below the next parent key").
			WithHE(last, "less than "+hi.String())
	}
	return nil
}
