package alloc

import "fmt"

// The free-space tree's view of a group (Config.FreeSpaceTree): the group
// less its extent items, superblock stripes included unless the tree the
// group was loaded from left them out. It changes exactly when an extent
// item appears (ReservedToUsed) or goes (UsedToPinned) — when the kernel
// edits the tree while running delayed refs — so that the commit writes it
// into the tree in the same transaction as the extent items.

// unlist removes r, a new extent item's range, from the listed free
// space.
func (g *BlockGroup) unlist(r Range) error {
	if g.listed == nil {
		return nil
	}
	if err := g.listed.remove(r); err != nil {
		return fmt.Errorf("free-space tree: %w", err)
	}
	g.listedDirty = true
	return nil
}

// list adds r, a deleted extent item's range, to the listed free space.
func (g *BlockGroup) list(r Range) error {
	if g.listed == nil {
		return nil
	}
	if err := g.listed.add(r); err != nil {
		return fmt.Errorf("free-space tree: %w", err)
	}
	g.listedDirty = true
	return nil
}

// GroupFree is what the free-space tree must list for one block group.
type GroupFree struct {
	Start, Length uint64
	Free          []Range // ordered, disjoint, not adjacent
}

// DirtyFreeSpace returns the groups whose listed free space changed since
// it was last called (new groups included) and clears the mark.
func (a *Allocator) DirtyFreeSpace() []GroupFree {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []GroupFree
	for _, g := range a.mu.groups {
		if !g.listedDirty {
			continue
		}
		gf := GroupFree{Start: g.Start, Length: g.Length}
		g.listed.each(func(r Range) { gf.Free = append(gf.Free, r) })
		out = append(out, gf)
		g.listedDirty = false
	}
	return out
}
