package ctree

import (
	"fmt"
	"sync"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk/format"
)

// RestartCause says why a SearchSlot released its whole path and started
// again from the root.
type RestartCause int

// Restart causes.
const (
	// RestartNotCached: a child (or a sibling a merge needed) was not in
	// the cache. The path is released, the block read without locks held,
	// and the search restarts.
	RestartNotCached RestartCause = iota
	// RestartWriteLevel: a COW, split, merge or key fix-up needed a write
	// lock on a level the search had read-locked; writeLockLevel is raised
	// and the search restarts (a lock is never upgraded in place).
	RestartWriteLevel
	// RestartTryLock: a try-lock of a right neighbour failed.
	RestartTryLock
	// RestartRootChanged: the root block was replaced between reading the
	// root pointer and locking the block (only the root is retried).
	RestartRootChanged
	NumRestartCauses // number of causes; not a cause
)

var restartNames = [...]string{"not-cached", "write-level", "try-lock", "root-changed"}

func (c RestartCause) String() string {
	if c < 0 || c >= NumRestartCauses {
		return fmt.Sprintf("restart-%d", int(c))
	}
	return restartNames[c]
}

// restartError unwinds a search attempt; it never leaves SearchSlot.
type restartError struct {
	cause RestartCause
	read  *checker.Expect // block to read before restarting (RestartNotCached)
}

func (e *restartError) Error() string { return "ctree: search restart: " + e.cause.String() }

// searcher is one SearchSlot call.
type searcher struct {
	op
	key    format.Key
	insLen int
	cow    bool
	wll    int // writeLockLevel: levels <= wll are write-locked
	// room says what insLen > 0 makes room for: either (SearchSlot), only
	// a new item (a found key needs no room: the insert fails with
	// ErrExists), or only the growth of a found item.
	room roomFor
	// rereads counts the blocks read for restarts; past the option's
	// HoldReadsAfter, held keeps them referenced until the search returns.
	rereads int
	held    []*cache.ExtentBuffer
	// path is where the search builds its path (op.p points here); it is
	// handed to the caller's Path when the search returns.
	path Path
}

// searchers recycles searchers. A searcher, with its path inside, lives on
// the heap: the compiler cannot tell its path pointer from the fields that
// do reach the heap (trans, root), so a searcher pointing at the caller's
// Path would move every caller's Path (a Lookup's, an Iterator's) to the
// heap. Building the path inside a pooled searcher and copying it out at
// the end keeps the caller's Path on its stack, and costs no allocation.
var searchers = sync.Pool{New: func() any { return new(searcher) }}

// SearchSlot looks key up in root and leaves p pointing at it: p.Slot(0) is
// the key's slot in leaf p.Node(0) when found is true, or the slot where it
// would be inserted (possibly one past the last item).
//
// insLen > 0 prepares an insert (or, when the key exists, a growth of that
// item) of insLen bytes, counting ItemHeaderSize per new item as the kernel
// does: nodes on the way that are nearly full are split, and the leaf is
// made to have insLen bytes free, by pushing items into its neighbours or
// splitting it. The caller must then insert or extend before releasing the
// path (a split may have left an empty leaf for the new item).
// insLen < 0 prepares a delete: nodes on the way that are below the fill
// threshold are merged with or refilled from a neighbour, and a root node
// with one child is replaced by the child.
// cow makes every block on the way that the COW policy selects be copied
// (trans may be nil only when cow is false; insLen != 0 needs cow).
//
// On return the leaf (and every level a key fix-up or merge may touch) is
// locked: write-locked with cow, read-locked without. Errors release p.
func SearchSlot(trans Trans, root *Root, key format.Key, p *Path, insLen int, cow bool) (bool, error) {
	return searchSlot(trans, root, key, p, insLen, cow, roomEither)
}

// roomFor says what a search with insLen > 0 makes room for.
type roomFor uint8

const (
	roomEither roomFor = iota // a new item, or the growth of the found one
	roomInsert                // a new item only
	roomExtend                // the growth of the found item only
)

func searchSlot(trans Trans, root *Root, key format.Key, p *Path, insLen int, cow bool, room roomFor) (bool, error) {
	if err := checkSearch(trans, root, p, insLen, cow); err != nil {
		p.Release()
		return false, err
	}
	p.Release()
	s := searchers.Get().(*searcher) // zero but for held's and pins' capacity
	s.op = op{trans: trans, root: root, c: root.env.Cache, p: &s.path, searching: true, pins: s.pins.Reuse(root.env.Cache)}
	s.key, s.insLen, s.cow, s.wll, s.room = key, insLen, cow, initialWriteLevel(insLen, cow), room
	s.path.c, s.path.LowestLevel = s.c, p.LowestLevel
	found, err := s.run()
	for _, eb := range s.held {
		s.c.Release(eb)
	}
	s.pins.UnpinAll()
	root.stats.searched(s.cows)
	s.path.wll = s.wll
	*p = s.path
	clear(s.held)
	*s = searcher{held: s.held[:0], op: op{pins: s.pins}}
	searchers.Put(s)
	return found, err
}

func checkSearch(trans Trans, root *Root, p *Path, insLen int, cow bool) error {
	nodesize := root.env.Cache.NodeSize()
	switch {
	case cow && trans == nil:
		return invalid("COW search without a transaction")
	case insLen != 0 && !cow:
		return invalid("insLen %d without cow", insLen)
	case insLen != 0 && p.LowestLevel != 0:
		return invalid("insLen %d with lowest level %d", insLen, p.LowestLevel)
	case p.LowestLevel < 0 || p.LowestLevel >= format.MaxLevel:
		return invalid("lowest level %d", p.LowestLevel)
	case insLen > int(format.LeafDataSize(nodesize)):
		return fmt.Errorf("%w: insert of %d bytes, a leaf holds %d", ErrItemTooLarge, insLen, format.LeafDataSize(nodesize))
	}
	return nil
}

// initialWriteLevel is where write locks start: none without cow; the leaf
// for a plain COW search; the leaf's parent for an insert (a split adds a
// pointer there); two levels for a delete (a merge of level-1 nodes
// changes level 2). Restarts raise it when a deeper change turns out to be
// needed.
func initialWriteLevel(insLen int, cow bool) int {
	switch {
	case !cow:
		return -1
	case insLen > 0:
		return 1
	case insLen < 0:
		return 2
	}
	return 0
}

// run searches until an attempt ends without a restart.
func (s *searcher) run() (bool, error) {
	for {
		found, err := s.once()
		re, ok := err.(*restartError)
		if !ok {
			if err != nil {
				s.p.Release()
			}
			return found, err
		}
		s.p.Release()
		s.root.stats.restart(re.cause)
		if re.read != nil {
			if err := s.readUnlocked(*re.read); err != nil {
				return false, err
			}
		}
	}
}

// readUnlocked brings a block into the cache with no lock held. Like the
// kernel, it drops the reference at once, so the block may be evicted again
// before the next walk reaches it; after HoldReadsAfter such reads in one
// search it keeps the reference until the search returns, so that a cache
// too small for a whole path beside its dirty blocks cannot livelock the
// search.
func (s *searcher) readUnlocked(exp checker.Expect) error {
	eb, err := s.c.Get(exp)
	if err != nil {
		return err
	}
	s.rereads++
	if h := s.root.env.Options.holdReadsAfter(); h >= 0 && s.rereads > h {
		s.held = append(s.held, eb)
		return nil
	}
	s.c.Release(eb)
	return nil
}

// once is one walk from the root down.
func (s *searcher) once() (bool, error) {
	b := s.lockRoot()
	for {
		level := int(b.Header().Level())
		if err := s.cowIfNeeded(level); err != nil {
			return false, err
		}
		if level == 0 {
			return s.atLeaf()
		}
		next, stop, found, err := s.atNode(level)
		if err != nil || stop {
			return found, err
		}
		b = next
	}
}

// mode is the lock a search takes at level.
func (s *searcher) mode(level int) LockMode {
	if level <= s.wll {
		return WriteLocked
	}
	return ReadLocked
}

// raise asks for write locks up to level and restarts.
func (s *searcher) raise(level int) error {
	s.wll = max(s.wll, level)
	return &restartError{cause: RestartWriteLevel}
}

// lockRoot locks the current root block, retrying while it is replaced
// between reading the pointer and getting the lock.
func (s *searcher) lockRoot() *cache.ExtentBuffer {
	for {
		eb := s.root.grabNode()
		level := int(eb.Header().Level())
		m := s.mode(level)
		lockAs(eb, m)
		if s.root.isNode(eb) {
			s.p.set(level, eb, m)
			return eb
		}
		unlockAs(eb, m)
		s.c.Release(eb)
		s.root.stats.restart(RestartRootChanged)
	}
}

// cowIfNeeded COWs the path's block at level if the policy says so. The
// block and its parent must be write-locked: if they are not, raise.
func (s *searcher) cowIfNeeded(level int) error {
	if !s.cow {
		return nil
	}
	d := shouldCOW(s.trans, s.root, s.p.nodes[level])
	if !d.cow {
		if d.overwrite && s.wll >= level {
			s.redirty(level, s.p.nodes[level]) // write-locked: the search may modify it
		}
		return nil
	}
	if s.wll < level+1 {
		return s.raise(level + 1)
	}
	return s.cowPath(level, d)
}

// atLeaf finds the slot in the leaf and makes room for an insert.
func (s *searcher) atLeaf() (bool, error) {
	slot, found, cmps := leafSlotCounted(s.p.nodes[0].Leaf(), s.key)
	s.p.work.searched(cmps)
	s.p.slots[0] = slot
	if s.needsRoom(found) && s.p.nodes[0].Leaf().FreeSpace() < s.insLen {
		if err := s.splitLeaf(found); err != nil {
			return false, err
		}
	}
	s.unlockAbove(0, found)
	return found, nil
}

// needsRoom reports whether the leaf must get insLen bytes free.
func (s *searcher) needsRoom(found bool) bool {
	switch {
	case s.insLen <= 0:
		return false
	case s.room == roomInsert:
		return !found
	case s.room == roomExtend:
		return found
	}
	return true
}

// atNode handles the node at level: root shrinkage, slot, split or merge,
// lock release above, and the step down. next is the block to handle next
// (already in the path); stop ends the search at LowestLevel.
func (s *searcher) atNode(level int) (next *cache.ExtentBuffer, stop, found bool, err error) {
	if s.insLen < 0 && s.p.nodes[level+1] == nil && s.p.nodes[level].Node().NrItems() == 1 {
		next, err = s.shrinkRoot(level)
		return next, false, false, err
	}
	slot, found, cmps := nodeSlotCounted(s.p.nodes[level].Node(), s.key)
	s.p.work.searched(cmps)
	s.p.setSlot(level, slot)
	if err := s.restructure(level); err != nil {
		return nil, false, false, err
	}
	if level <= s.p.LowestLevel {
		s.unlockAbove(level, found)
		return nil, true, found, nil
	}
	s.unlockAbove(level, found)
	next, err = s.descend(level)
	return next, false, false, err
}

// Fill thresholds of nodes (in key pointers, of MaxKeyPtrs):
//   - an insert splits a node on its way that has MaxKeyPtrs-3 pointers or
//     more, so the node can take the pointers a split below adds (a leaf
//     double split adds two);
//   - a delete rebalances a non-root node on its way that has fewer than
//     MaxKeyPtrs/4 pointers: merged with a neighbour when both fit in
//     3/4 of a node, else refilled from it to even counts.
func splitAt(nodesize uint32) int   { return format.MaxKeyPtrs(nodesize) - 3 }
func balanceBelow(n uint32) int     { return format.MaxKeyPtrs(n) / 4 }
func mergeUpTo(nodesize uint32) int { return format.MaxKeyPtrs(nodesize) * 3 / 4 }

// restructure splits or rebalances the node at level when the operation
// needs it, after making sure the levels it changes are write-locked.
func (s *searcher) restructure(level int) error {
	nr := s.p.nodes[level].Node().NrItems()
	ns := s.c.NodeSize()
	isRoot := s.p.nodes[level+1] == nil
	split := s.insLen > 0 && nr >= splitAt(ns)
	balance := s.insLen < 0 && !isRoot && nr < balanceBelow(ns)
	fixup := !isRoot && s.firstKeyMayChange(level, false)
	if (split || balance || fixup) && s.wll < level+1 {
		return s.raise(level + 1)
	}
	switch {
	case split:
		return s.splitNode(level)
	case balance:
		return s.balanceNode(level)
	}
	return nil
}

// firstKeyMayChange reports whether the operation may change the first key
// of the path's block at level: a delete through slot 0, or an insert of a
// key before the block's first key (at a leaf: into slot 0, found false).
func (s *searcher) firstKeyMayChange(level int, found bool) bool {
	switch {
	case s.insLen < 0:
		return s.p.slots[level] == 0
	case s.insLen == 0:
		return false
	case level == 0:
		return s.p.slots[0] == 0 && !found
	}
	return s.key.Compare(s.p.nodes[level].Node().Key(0)) < 0
}

// unlockAbove releases the locks above level that the operation can no
// longer need (lock coupling): it keeps the chain of parents whose key a
// fix-up may rewrite and, for a delete, the leaf's parent (the leaf may be
// merged away). References stay until Release.
func (s *searcher) unlockAbove(level int, found bool) {
	top := level
	change := s.firstKeyMayChange(level, found) || (s.insLen < 0 && level == 0)
	for i := level; change && i+1 < format.MaxLevel && s.p.nodes[i+1] != nil; i++ {
		top = i + 1
		change = s.p.slots[i+1] == 0
	}
	for i := top + 1; i < format.MaxLevel; i++ {
		s.p.unlock(i)
	}
}

// descend locks the child at the path's slot of level and puts it in the
// path, or restarts when it is not cached.
func (s *searcher) descend(level int) (*cache.ExtentBuffer, error) {
	parent := s.p.nodes[level]
	slot := s.p.slots[level]
	child := s.c.Find(parent.Node().BlockPtr(slot))
	if child == nil {
		return nil, s.notCached(parent, slot)
	}
	m := s.mode(level - 1)
	lockAs(child, m)
	if !childMatches(parent, slot, child) {
		if err := s.checkChild(parent, slot, child); err != nil {
			unlockAs(child, m)
			s.c.Release(child)
			return nil, err
		}
	}
	s.p.set(level-1, child, m)
	return child, nil
}

// childMatches is the allocation-free test of checkChild: the child's
// header names the address, level and generation of the parent's pointer.
// Only a mismatch goes to checkChild, which builds the error.
func childMatches(parent *cache.ExtentBuffer, slot int, child *cache.ExtentBuffer) bool {
	n, h := parent.Node(), child.Header()
	return h.Bytenr() == n.BlockPtr(slot) && int(h.Level())+1 == int(parent.Header().Level()) &&
		h.Generation() == n.PtrGeneration(slot)
}
