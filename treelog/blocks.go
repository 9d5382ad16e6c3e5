package treelog

import (
	"fmt"

	"cowfs/checker"
	"cowfs/ctree"
	"cowfs/disk/format"
)

// Blocks lists the address of every block of the log: the log root tree's
// and each subvolume log's, each read and verified as a child of its
// parent (owner TREE_LOG, the generation and first key its pointer names).
func (l *Log) Blocks() ([]uint64, error) {
	out, err := treeBlocks(l.Root)
	if err != nil {
		return nil, err
	}
	for _, s := range l.Subvols {
		b, err := treeBlocks(s.Tree)
		if err != nil {
			return nil, fmt.Errorf("log tree of subvolume %d: %w", s.ID, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// treeBlocks walks r depth first from its root block.
func treeBlocks(r *ctree.Root) ([]uint64, error) {
	bytenr, level, gen := r.Info()
	exp := checker.Expect{Bytenr: bytenr, Level: level, Generation: gen, Owner: r.ID}
	var out []uint64
	err := walk(r.Env(), exp, &out)
	return out, err
}

func walk(env *ctree.Env, exp checker.Expect, out *[]uint64) error {
	eb, err := env.Cache.Get(exp)
	if err != nil {
		return err
	}
	defer env.Cache.Release(eb)
	*out = append(*out, exp.Bytenr)
	if eb.Header().Level() == 0 {
		return nil
	}
	n := format.Node(eb.Data())
	for slot := range n.NrItems() {
		child, ok := checker.ExpectChild(eb.Data(), slot, exp.Owner)
		if !ok {
			return fmt.Errorf("%w: log block %d: bad pointer slot %d", format.ErrCorrupt, exp.Bytenr, slot)
		}
		if err := walk(env, child, out); err != nil {
			return err
		}
	}
	return nil
}
