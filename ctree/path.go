package ctree

import (
	"fmt"

	"cowfs/cache"
	"cowfs/disk/format"
)

// LockMode is the tree lock a Path holds on one level.
type LockMode uint8

// Lock modes.
const (
	Unlocked    LockMode = iota // a reference only: the block may have changed since
	ReadLocked                  // shared tree lock
	WriteLocked                 // exclusive tree lock
)

func (m LockMode) String() string {
	switch m {
	case Unlocked:
		return "none"
	case ReadLocked:
		return "read"
	case WriteLocked:
		return "write"
	}
	return fmt.Sprintf("lock-%d", int(m))
}

// Path is the result of a search: one block and slot per level, from the
// leaf (level 0) up to the root, and the lock held on each. Levels above the
// locked ones keep a reference only (like the kernel's path after
// unlock_up); their bytes may have changed and are not to be read.
//
// A Path is used by one goroutine. Its zero value is ready; Release returns
// it to that state (LowestLevel is kept). A goroutine must not start another
// search on the same tree while it holds a Path with locks: that could wait
// for a lock it holds itself.
type Path struct {
	nodes [format.MaxLevel]*cache.ExtentBuffer
	slots [format.MaxLevel]int
	locks [format.MaxLevel]LockMode
	// upper[i] is the key of pointer slots[i]+1 of the node at level i (the
	// first key of the subtree right of the path), when there is one.
	upper    [format.MaxLevel]format.Key
	hasUpper [format.MaxLevel]bool
	c        *cache.Cache
	wll      int        // writeLockLevel of the last search
	work     searchWork // what the last search did

	// LowestLevel stops a search at this level (a node) instead of the
	// leaf; only for searches that do not insert or delete (insLen 0).
	LowestLevel int
}

// searchWork is what one SearchSlot did, its restarts included: the blocks
// whose slot it searched and the keys it compared (for the benchmarks'
// figures: the work of a search, whatever its memory stalls).
type searchWork struct{ blocks, keys int }

func (w *searchWork) searched(keys int) { w.blocks++; w.keys += keys }

// Node returns the block held at level, or nil.
func (p *Path) Node(level int) *cache.ExtentBuffer { return p.nodes[level] }

// Slot returns the slot at level.
func (p *Path) Slot(level int) int { return p.slots[level] }

// Lock returns the lock held at level.
func (p *Path) Lock(level int) LockMode { return p.locks[level] }

// WriteLockLevel is the level up to which the last search took write locks
// (-1: read locks only). It ends at the value the search's restarts raised
// it to.
func (p *Path) WriteLockLevel() int { return p.wll }

// Leaf returns the leaf the path points into (nil if none is held).
func (p *Path) Leaf() format.Leaf {
	if p.nodes[0] == nil {
		return nil
	}
	return p.nodes[0].Leaf()
}

// ItemKey returns the key of the leaf item at the path's slot.
func (p *Path) ItemKey() format.Key { return p.Leaf().ItemKey(p.slots[0]) }

// ItemData returns the data of the leaf item at the path's slot, in place.
// After a search with cow, the leaf is write-locked and dirty: the caller may
// write these bytes until it releases the path.
func (p *Path) ItemData() []byte { return p.Leaf().ItemData(p.slots[0]) }

// Release drops every lock and reference the path holds.
func (p *Path) Release() {
	for i := range p.nodes {
		p.drop(i)
	}
	p.hasUpper = [format.MaxLevel]bool{}
	p.wll = 0
	p.work = searchWork{}
}

// set puts eb, locked as m, with the caller's reference, at level.
func (p *Path) set(level int, eb *cache.ExtentBuffer, m LockMode) {
	p.nodes[level] = eb
	p.locks[level] = m
	p.hasUpper[level] = false
}

// unlock drops the lock at level and keeps the reference.
func (p *Path) unlock(level int) {
	if eb := p.nodes[level]; eb != nil {
		unlockAs(eb, p.locks[level])
	}
	p.locks[level] = Unlocked
}

// drop unlocks and releases the block at level.
func (p *Path) drop(level int) {
	eb := p.nodes[level]
	if eb == nil {
		return
	}
	p.unlock(level)
	p.c.Release(eb)
	p.nodes[level] = nil
	p.slots[level] = 0
	p.hasUpper[level] = false
}

// replace drops the block at level and puts eb there, write-locked.
func (p *Path) replace(level int, eb *cache.ExtentBuffer) {
	p.drop(level)
	p.set(level, eb, WriteLocked)
}

// setSlot sets the slot of the (locked) node at level >= 1 and records the
// key right of it, if any.
func (p *Path) setSlot(level, slot int) {
	p.slots[level] = slot
	if level == 0 {
		return
	}
	n := p.nodes[level].Node()
	p.hasUpper[level] = slot+1 < n.NrItems()
	if p.hasUpper[level] {
		p.upper[level] = n.Key(slot + 1)
	}
}

// upperBound is the first key right of the path's leaf: the first key of
// the next leaf, as the nodes said when the path went through them.
func (p *Path) upperBound() (format.Key, bool) {
	for i := 1; i < format.MaxLevel && p.nodes[i] != nil; i++ {
		if p.hasUpper[i] {
			return p.upper[i], true
		}
	}
	return format.Key{}, false
}

func lockAs(eb *cache.ExtentBuffer, m LockMode) {
	switch m {
	case WriteLocked:
		eb.Lock()
	case ReadLocked:
		eb.RLock()
	}
}

func unlockAs(eb *cache.ExtentBuffer, m LockMode) {
	switch m {
	case WriteLocked:
		eb.Unlock()
	case ReadLocked:
		eb.RUnlock()
	}
}
