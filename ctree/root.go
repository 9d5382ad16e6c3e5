package ctree

import (
	"fmt"
	"sync"
	"sync/atomic"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk/format"
)

// Env is what the trees of one filesystem share.
type Env struct {
	Cache *cache.Cache
	// Ctx is the filesystem's checker context: its Fsid goes into the header
	// of every new block, and Verify checks blocks with its rules.
	Ctx checker.Context
	// ChunkTreeUUID goes into the header of every new block.
	ChunkTreeUUID format.UUID
	Options       Options
}

func (e *Env) validate() error {
	switch {
	case e == nil || e.Cache == nil:
		return invalid("nil environment or cache")
	case e.Ctx.NodeSize != e.Cache.NodeSize():
		return invalid("checker nodesize %d, cache nodesize %d", e.Ctx.NodeSize, e.Cache.NodeSize())
	case e.Options.Policy == PolicyBounce && e.Cache.Options().IO != cache.IOBounce:
		return invalid("policy bounce needs a cache whose writeback writes from a copy (writeback I/O %s)", e.Cache.Options().IO)
	}
	return e.Options.Validate()
}

// Root is one tree: its id (the owner of its blocks), its root block, of
// which it holds a reference, and its figures.
type Root struct {
	ID  uint64
	env *Env
	// ForceCOW makes every block COWed whatever its generation (set while a
	// snapshot of the tree is being taken).
	ForceCOW atomic.Bool
	stats    treeStats

	// mu guards node: a search reads the pointer under mu, then locks the
	// block and checks that it is still the root; a COW, growth or
	// shrinkage of the root swaps it under mu while holding the old root's
	// write lock. mu is never held while waiting for a tree lock.
	mu   sync.Mutex
	node *cache.ExtentBuffer
}

// OpenRoot opens tree id whose root block is at bytenr with the given level
// and generation (from a ROOT_ITEM or the superblock). The block is read and
// verified through the cache.
func OpenRoot(env *Env, id, bytenr uint64, level int, gen uint64) (*Root, error) {
	if err := env.validate(); err != nil {
		return nil, err
	}
	eb, err := env.Cache.Get(checker.Expect{Bytenr: bytenr, Level: level, Generation: gen, Owner: id})
	if err != nil {
		return nil, err
	}
	h := eb.Header()
	if rule := rootMismatch(h, level, gen, id); rule != 0 {
		env.Cache.Release(eb)
		return nil, corrupt(rule, id, bytenr, level, -1, "root block does not match its root item").WithHE(
			fmt.Sprintf("level %d gen %d owner %d", h.Level(), h.Generation(), h.Owner()),
			fmt.Sprintf("level %d gen %d owner %d", level, gen, id))
	}
	return &Root{ID: id, env: env, node: eb}, nil
}

// rootMismatch returns the rule a root block's header breaks against its
// root item (level #15, generation #16, owner #18), or 0.
func rootMismatch(h format.Header, level int, gen, id uint64) int {
	switch {
	case int(h.Level()) != level:
		return checker.RuleLevel
	case h.Generation() != gen:
		return checker.RuleTransid
	case h.Owner() != id:
		return checker.RuleOwner
	}
	return 0
}

// CreateRoot makes a new empty tree id (one empty leaf) in trans.
func CreateRoot(trans Trans, env *Env, id uint64) (*Root, error) {
	if err := env.validate(); err != nil {
		return nil, err
	}
	if trans == nil {
		return nil, invalid("CreateRoot without a transaction")
	}
	r := &Root{ID: id, env: env}
	o := &op{trans: trans, root: r, c: env.Cache, p: &Path{c: env.Cache}}
	eb, err := o.newBlock(0, env.Ctx.Fsid, env.ChunkTreeUUID)
	if err != nil {
		return nil, err
	}
	o.dirty(eb)
	eb.Unlock()
	r.node = eb
	return r, nil
}

// Close releases the root block. The Root must not be used afterwards.
func (r *Root) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.node != nil {
		r.env.Cache.Release(r.node)
		r.node = nil
	}
}

// IsLog reports a log tree (fsync's; its blocks are owned by
// TREE_LOG_OBJECTID): a WRITTEN log block is never rewritten in place.
func (r *Root) IsLog() bool { return r.ID == format.TreeLogObjectID }

// Env returns the environment the tree was opened with.
func (r *Root) Env() *Env { return r.env }

// Bytenr, Level and Generation describe the current root block, for the
// transaction layer to write into the tree's ROOT_ITEM.
func (r *Root) Bytenr() uint64 { b, _, _ := r.Info(); return b }
func (r *Root) Level() int     { _, l, _ := r.Info(); return l }
func (r *Root) Generation() uint64 {
	_, _, g := r.Info()
	return g
}

// Info returns bytenr, level and generation of the root block at one moment.
// (A root block's header never changes these: a new root is a new block.)
func (r *Root) Info() (bytenr uint64, level int, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.node.Header()
	return r.node.Bytenr, int(h.Level()), h.Generation()
}

// grabNode returns the root block with a new reference.
func (r *Root) grabNode() *cache.ExtentBuffer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ref(r.node)
}

// isNode reports whether eb is the root block now.
func (r *Root) isNode(eb *cache.ExtentBuffer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.node == eb
}

// swapNode makes nb the root block in place of old. The caller holds old's
// write lock (so no search can be past the root check with old) and nb's.
func (r *Root) swapNode(old, nb *cache.ExtentBuffer) {
	r.mu.Lock()
	if r.node != old {
		r.mu.Unlock()
		panic(fmt.Sprintf("ctree: root %d swap: block %d is not the root", r.ID, old.Bytenr))
	}
	r.node = r.ref(nb)
	r.mu.Unlock()
	r.env.Cache.Release(old)
}

// ref takes one more reference on eb, which the caller holds a reference on
// (so it is cached). The cache takes references through Find only.
func (r *Root) ref(eb *cache.ExtentBuffer) *cache.ExtentBuffer {
	got := r.env.Cache.Find(eb.Bytenr)
	if got != eb {
		panic(fmt.Sprintf("ctree: block %d held by the tree is not the cached buffer", eb.Bytenr))
	}
	return eb
}
