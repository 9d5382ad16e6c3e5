package ctree

import "cowfs/cache"

// Trans is what ctree needs from a running transaction handle. ctree
// declares it so that the allocator and transaction packages, which sit
// above ctree and use it for their own trees, can implement it without an
// import cycle. Tests implement it with a small allocator over an image's
// METADATA chunk.
//
// Every method may be called concurrently by many goroutines working on the
// same or different trees. ctree calls them with tree locks held, so they
// must not take tree locks or wait for a search.
type Trans interface {
	// Transid is the running transaction's generation: every block COWed
	// or created gets it as header generation.
	Transid() uint64
	// Charge charges one nodesize to the handle's reservation, before each
	// COW and each new block (split sibling, new root) of tree owner at
	// level. An error aborts the operation and is returned to its caller;
	// the tree stays valid (every change made so far is complete).
	Charge(owner uint64, level int) error
	// AllocBlock returns the logical address of a free, nodesize-aligned
	// metadata block for tree owner at level.
	AllocBlock(owner uint64, level int) (uint64, error)
	// FreeBlock records that eb, a block of tree owner, is no longer
	// referenced by the tree: its extent is freed (pinned until the
	// transaction's superblock is durable). ctree holds eb's write lock and
	// a reference during the call. If the block was created by this same
	// transaction and never written, ctree also discards its buffer
	// (cache.Discard) right after the call.
	FreeBlock(owner uint64, eb *cache.ExtentBuffer)
	// AddDirty records eb, just marked dirty (cache.MarkDirty), in the
	// transaction's dirty set, which the commit writes. It is called on every
	// modification of a block, so implementations keep a set. ctree holds
	// eb's write lock and a reference during the call; an implementation
	// that keeps eb beyond it takes its own reference (cache.Find).
	AddDirty(eb *cache.ExtentBuffer)
	// PinUntilEnd is called, under the pin-handle policy, for every copy
	// a COW makes: the handle blocks its writeback (BlockWriteback, with a
	// reference of its own) until the handle ends. It must not fail: the
	// storage for the pins is the handle's business (reserved at Start).
	PinUntilEnd(eb *cache.ExtentBuffer)
}
