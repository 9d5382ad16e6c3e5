package fs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"cowfs/alloc"
	"cowfs/checker"
	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/transaction"
	"cowfs/treelog"
)

// Bounds of one handle dropping file extents (truncate.go): at most
// defaultEvictChunk extents (130 items) and checksum deletions reserving
// at most InsertSize(evictCsumItems) = 512 nodes (8 MiB with 16 KiB
// nodes: three 128 MiB extents). That is 64 leaves of sums at MAX_LEVEL
// (8) nodes each, and COWing 64 leaves is what the smallest global reserve
// (64 nodes) backs when free space cannot (transaction/csum_rsv.go).
const (
	defaultEvictChunk = 4096
	evictCsumItems    = 32
)

// RootIno is the inode number of the root directory of subvolume 5.
const RootIno = format.FirstFreeObjectID

// FS is an opened filesystem: the namespace and files of subvolume 5 of
// one btrfs image, addressed by inode number. Its methods may be called
// concurrently (see docs/fs.md, "Locks").
type FS struct {
	t    *transaction.FS
	root *ctree.Root
	data fileData
	opts Options
	log  io.Writer

	sectorSize uint64
	nodeSize   uint32
	readOnly   bool

	// ns is the namespace lock: held for writing by every operation that
	// changes names, directories, xattrs or removes inodes; for reading by
	// Lookup and Parent. Taken before any inode lock and before a handle.
	ns sync.RWMutex
	// dirIndex is the next DIR_INDEX of each directory met so far.
	// REQUIRES: ns held for writing.
	dirIndex map[uint64]uint64
	nextIno  atomic.Uint64

	// imu guards inodes (the map), each inode's pins, and opens (the open
	// count of each open inode). It is a leaf lock: nothing is acquired or
	// waited for while holding it.
	imu    sync.Mutex
	inodes map[uint64]*inode
	opens  map[uint64]uint32

	// evictChunk and evictCsum bound the file extents, and the bytes of
	// checksum deletions they reserve, that one handle drops: a larger
	// drop goes in steps, a handle each (truncate.go).
	evictChunk int
	evictCsum  uint64

	dirty atomic.Int64 // bytes buffered by Write, over all inodes
	// dataRsv and metaRsv hold what flushing the buffers needs
	// (reserve.go).
	dataRsv, metaRsv *alloc.BlockRsv
	hookMu           sync.Mutex // one BeforeCommit flush at a time (TryLock)
	spare            spareBuf   // a flushed run's buffer, for the next one
	ninodes          inodeCount
}

// Open opens the btrfs image or block device at path. An image whose
// free-space tree is not marked valid (compat_ro FREE_SPACE_TREE without
// FREE_SPACE_TREE_VALID: the kernel rebuilds it at its next mount) opens
// read-only with a warning; a valid one (what mkfs.btrfs makes by default)
// is kept by every commit. A read-write open
// deletes the inodes left by an interrupted unlink (orphans), as the
// kernel does at mount. A read-write open of an image holding an fsync
// log replays it first and commits (treelog.Replay); a read-only one is
// refused unless opts.Transaction.NoLogReplay.
func Open(path string, opts Options) (*FS, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.logger()
	to := opts.Transaction
	if !to.ReadOnly {
		sb, err := superOf(path)
		if err != nil {
			return nil, err
		}
		to.ReadOnly = staleFreeSpaceTree(log, path, sb)
	}
	to.ReplayLog = treelog.Replay
	t, err := transaction.OpenFile(path, to)
	if to.ReadOnly && !opts.Transaction.ReadOnly && errors.Is(err, transaction.ErrLogReplay) {
		return nil, fmt.Errorf("%w; cowfs cannot replay it while the free-space tree is not valid: mount it once with the kernel", err)
	}
	if err != nil {
		return nil, err
	}
	return withTransaction(t, opts, log)
}

// OpenDevice is Open on a device the caller owns (Close leaves it open):
// the crash harness opens its in-memory crash states with it.
func OpenDevice(dev disk.Device, opts Options) (*FS, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.logger()
	to := opts.Transaction
	if !to.ReadOnly {
		sb, err := checker.ReadSuper(dev)
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		to.ReadOnly = staleFreeSpaceTree(log, "the device", sb)
	}
	to.ReplayLog = treelog.Replay
	t, err := transaction.Open(dev, to)
	if err != nil {
		return nil, err
	}
	return withTransaction(t, opts, log)
}

// logger is where warnings go: Log, or stderr.
func (o Options) logger() io.Writer {
	if o.Log == nil {
		return os.Stderr
	}
	return o.Log
}

// withTransaction opens the filesystem layer over t, closing t on failure.
func withTransaction(t *transaction.FS, opts Options, log io.Writer) (*FS, error) {
	t.SetLog(log)
	fs, err := newFS(t, opts, log)
	if err != nil {
		return nil, errors.Join(err, t.Close())
	}
	return fs, nil
}

// superOf reads the superblock of path.
func superOf(path string) (*format.Super, error) {
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	sb, err := checker.ReadSuper(dev)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sb, nil
}

// staleFreeSpaceTree reports, and says on log, whether sb has compat_ro
// FREE_SPACE_TREE without FREE_SPACE_TREE_VALID: the kernel rebuilds such
// a tree at its next mount, and cowfs opens the image read-only.
func staleFreeSpaceTree(log io.Writer, what string, sb *format.Super) bool {
	const both = format.CompatRoFreeSpaceTree | format.CompatRoFreeSpaceTreeValid
	if sb.CompatRoFlags&both != format.CompatRoFreeSpaceTree {
		return false
	}
	fmt.Fprintf(log, "cowfs: %s has a free-space tree not marked valid, which the kernel rebuilds at its next mount: opened read-only\n", what)
	return true
}

func newFS(t *transaction.FS, opts Options, log io.Writer) (*FS, error) {
	root, err := t.Tree(format.FSTreeObjectID)
	if err != nil {
		return nil, err
	}
	sb := t.Super()
	fs := &FS{t: t, root: root, opts: opts, log: log, sectorSize: uint64(sb.SectorSize),
		nodeSize: sb.NodeSize, readOnly: t.ReadOnly(),
		dirIndex: map[uint64]uint64{}, inodes: map[uint64]*inode{}, opens: map[uint64]uint32{}, evictChunk: defaultEvictChunk,
		evictCsum: transaction.InsertSize(sb.NodeSize, evictCsumItems)}
	fs.data = newFileData(t, root)
	fs.setupRsv()
	if err := fs.checkRoot(); err != nil {
		return nil, err
	}
	highest, err := fs.highestObjectID()
	if err != nil {
		return nil, err
	}
	fs.nextIno.Store(max(highest+1, RootIno+1))
	if fs.readOnly {
		return fs, nil
	}
	t.BeforeCommit(fs.beforeCommit)
	t.OnNoSpace(fs.onNoSpace)
	if err := fs.cleanOrphans(); err != nil {
		return nil, fmt.Errorf("open: orphan cleanup: %w", err)
	}
	return fs, nil
}

// checkRoot requires the root directory, as the kernel's mount does.
func (fs *FS) checkRoot() error {
	ii, err := fs.readInode(RootIno)
	if err != nil {
		return fmt.Errorf("open: root directory: %w", err)
	}
	if ii.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return fmt.Errorf("open: root inode %d is not a directory (mode %#o): %w", RootIno, ii.Mode, syscall.ENOTDIR)
	}
	return nil
}

// highestObjectID is the largest inode-range objectid of the fs tree: the
// last key below (LAST_FREE_OBJECTID, 255, max), as the kernel finds it.
func (fs *FS) highestObjectID() (uint64, error) {
	var p ctree.Path
	defer p.Release()
	key := format.Key{ObjectID: format.LastFreeObjectID, Type: 255, Offset: ^uint64(0)}
	if _, err := ctree.SearchSlot(nil, fs.root, key, &p, 0, false); err != nil {
		return 0, err
	}
	if p.Slot(0) == 0 {
		ok, err := ctree.PrevLeaf(fs.root, &p)
		if err != nil || !ok {
			return RootIno, err
		}
		return p.ItemKey().ObjectID, nil
	}
	return p.Leaf().ItemKey(p.Slot(0) - 1).ObjectID, nil
}

// Root is the inode number of the root directory (256).
func (fs *FS) Root() uint64 { return RootIno }

// ReadOnly reports whether changes are refused: a read-only open (asked,
// or forced by a stale free-space tree) or a transaction abort.
func (fs *FS) ReadOnly() bool { return fs.readOnly || fs.t.ReadOnly() }

// Aborted is the error that aborted a transaction (the filesystem is
// read-only since), or nil.
func (fs *FS) Aborted() error { return fs.t.Aborted() }

// Transaction is the transaction layer under the filesystem (figures,
// dumps, tools).
func (fs *FS) Transaction() *transaction.FS { return fs.t }

// Sync writes every buffered file and commits the running transaction.
func (fs *FS) Sync() error {
	if fs.readOnly {
		return nil
	}
	if err := fs.flushAll(false); err != nil {
		return err
	}
	fs.spare.drop()
	return fs.t.Commit()
}

// Close writes the buffered data, commits and closes the image. The FS
// cannot be used afterwards. Inodes still open with nlink 0 keep their
// orphan items; the next read-write Open deletes them.
func (fs *FS) Close() error {
	var err error
	if !fs.readOnly {
		err = fs.flushAll(false)
	}
	return errors.Join(err, fs.t.Close())
}

// writable fails when changes are refused.
func (fs *FS) writable(op string, ino uint64) error {
	if fs.readOnly {
		return fmt.Errorf("%s inode %d: %w", op, ino, transaction.ErrReadOnly)
	}
	return nil
}
