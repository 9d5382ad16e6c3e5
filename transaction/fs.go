package transaction

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"cowfs/alloc"
	"cowfs/cache"
	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
)

// Errors of the transaction layer. Each matches the errno the kernel
// returns in the same situation.
var (
	// ErrReadOnly: the filesystem was opened read-only, or an abort turned
	// it read-only (then the error also wraps the abort's cause).
	ErrReadOnly = fmt.Errorf("filesystem is read-only: %w", syscall.EROFS)
	// ErrUnsupported: the image uses a feature cowfs cannot open (as asked).
	ErrUnsupported = fmt.Errorf("unsupported filesystem feature: %w", syscall.EOPNOTSUPP)
	// ErrClosed: the filesystem was closed.
	ErrClosed = errors.New("filesystem closed")
)

// FS is an opened btrfs image: its superblock, chunk map, cache, trees,
// allocator and the running transaction. Tools and the filesystem layer
// work through it; Start begins a handle.
type FS struct {
	dev     disk.Device
	ownsDev bool
	opts    Options
	log     io.Writer

	cmap  *disk.ChunkMap
	cache *cache.Cache
	env   *ctree.Env
	alloc *alloc.Allocator
	refs  *alloc.DelayedRefs
	// csumMu serializes the edits of the csum tree (csum.go), which read
	// neighbouring items before changing them, across transactions: a
	// reader confirming a miss must exclude the committing transaction's
	// edits and the next one's alike.
	csumMu sync.Mutex

	chunkTree, rootTree *ctree.Root
	trees               treeSet
	// freeSource is where the open took free space from (FreeSpaceSource).
	freeSource string
	// keepFreeSpaceTree: the image has a valid free-space tree and is open
	// read-write; every commit updates it (free_space_tree.go).
	keepFreeSpaceTree bool

	global, delayedRefs, delayedItems, chunkRsv *alloc.BlockRsv

	// commitLock: every handle holds it for reading from Start to End;
	// Commit takes it for writing, so it waits for the running handles and
	// holds new ones back (Go's RWMutex blocks new readers once a writer
	// waits).
	commitLock sync.RWMutex

	mu struct {
		sync.Mutex
		super   format.Super // the last committed superblock
		cur     *Transaction // the running transaction
		abort   error        // first error that aborted a transaction
		closed  bool
		backupI int // next backup-root slot
	}
	stats        stats
	ticker       *committer
	beforeCommit atomic.Pointer[func() error]
	onNoSpace    atomic.Pointer[func() bool]
	// liveReserved is the bytes reserved by running user handles (their
	// share of the delayed-refs reserve is kept until they end).
	liveReserved atomic.Uint64
	// csumRsv is the part of the delayed-refs reserve promised to the
	// checksum deletions of the running transaction, csumOwed what they
	// need beyond it (csum_rsv.go).
	csumRsv, csumOwed atomic.Uint64
}

// Device is the device the filesystem lives on.
func (fs *FS) Device() disk.Device { return fs.dev }

// Cache is the extent buffer cache.
func (fs *FS) Cache() *cache.Cache { return fs.cache }

// Env is what the filesystem's trees share (ctree).
func (fs *FS) Env() *ctree.Env { return fs.env }

// Alloc is the space allocator.
func (fs *FS) Alloc() *alloc.Allocator { return fs.alloc }

// Options are the options the filesystem was opened with.
func (fs *FS) Options() Options { return fs.opts }

// Super returns a copy of the last committed superblock.
func (fs *FS) Super() format.Super {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.mu.super
}

// NodeSize is the tree block size.
func (fs *FS) NodeSize() uint32 { return fs.env.Ctx.NodeSize }

// SetLog sets where dumps (the ENOSPC report) and warnings go; default
// stderr.
func (fs *FS) SetLog(w io.Writer) { fs.log = w }

// Aborted returns the error that aborted a transaction, or nil.
func (fs *FS) Aborted() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.mu.abort
}

// ReadOnly reports whether changes are refused (read-only open or abort).
func (fs *FS) ReadOnly() bool { return fs.opts.ReadOnly || fs.Aborted() != nil }

func newFS(dev disk.Device, opts Options) *FS {
	return &FS{dev: dev, opts: opts, log: os.Stderr, refs: alloc.NewDelayedRefs(), trees: treeSet{m: map[uint64]*tree{}}}
}
