package fuse

import (
	"log"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"cowfs/fs"
)

// attrTimeout is how long the kernel may cache attributes and entries.
// Only this daemon changes the image while it is mounted, so the kernel's
// own updates keep its cache right; one second bounds any surprise.
const attrTimeout = time.Second

// raw implements gofuse.RawFileSystem over a cowfs filesystem.
type raw struct {
	gofuse.RawFileSystem // defaults for what cowfs does not implement
	fs                   *fs.FS
	// sync forces a commit (SyncIoctl); the server sets it.
	sync  func() error
	locks *locks
	// nextFh numbers the opens of files, which own locks.
	nextFh atomic.Uint64
}

func newRaw(f *fs.FS) *raw {
	return &raw{RawFileSystem: gofuse.NewDefaultRawFileSystem(), fs: f, sync: f.Sync, locks: newLocks()}
}

func (r *raw) String() string { return "cowfs" }

// ino is the btrfs inode of a FUSE node id.
func (r *raw) ino(node uint64) uint64 {
	if node == gofuse.FUSE_ROOT_ID {
		return r.fs.Root()
	}
	return node
}

// node is the FUSE node id of a btrfs inode.
func (r *raw) node(ino uint64) uint64 {
	if ino == r.fs.Root() {
		return gofuse.FUSE_ROOT_ID
	}
	return ino
}

// recovered turns a panic in a handler into EIO, logged with its stack.
func recovered(op string, st *gofuse.Status) {
	if p := recover(); p != nil {
		log.Printf("cowfs: panic in %s: %v\n%s", op, p, debug.Stack())
		if st != nil {
			*st = gofuse.EIO
		}
	}
}

// fillAttr converts the filesystem's attributes.
func (r *raw) fillAttr(a fs.Attr, out *gofuse.Attr) {
	*out = gofuse.Attr{Ino: a.Ino, Size: a.Size, Blocks: a.Blocks, Mode: a.Mode, Nlink: a.Nlink,
		Rdev: a.Rdev, Blksize: a.Blksize}
	out.Owner = gofuse.Owner{Uid: a.UID, Gid: a.GID}
	out.SetTimes(&a.Atime, &a.Mtime, &a.Ctime)
}

func (r *raw) fillEntry(a fs.Attr, out *gofuse.EntryOut) {
	out.NodeId = r.node(a.Ino)
	out.Generation = a.Generation
	out.SetEntryTimeout(attrTimeout)
	out.SetAttrTimeout(attrTimeout)
	r.fillAttr(a, &out.Attr)
}

func (r *raw) fillAttrOut(a fs.Attr, out *gofuse.AttrOut) {
	out.SetTimeout(attrTimeout)
	r.fillAttr(a, &out.Attr)
}

// entry answers an operation that produced an inode, which the kernel
// now holds a lookup reference on.
func (r *raw) entry(op string, a fs.Attr, err error, out *gofuse.EntryOut) gofuse.Status {
	if err == nil {
		err = r.remember(a.Ino)
	}
	if err != nil {
		return errnoOf(op, err)
	}
	r.fillEntry(a, out)
	return gofuse.OK
}

// remember counts one kernel lookup reference on ino, until Forget: an
// inode whose last name goes while the kernel still knows it must stay (as
// an orphan) for fstat(2) on open descriptors, like an open file does. The
// filesystem counts both with OpenFile/ReleaseFile. The root is never
// forgotten and not counted.
func (r *raw) remember(ino uint64) error {
	if ino == r.fs.Root() {
		return nil
	}
	return r.fs.OpenFile(ino)
}

// Forget drops nlookup references taken by remember.
func (r *raw) Forget(node, nlookup uint64) {
	defer recovered("forget", nil)
	ino := r.ino(node)
	if ino == r.fs.Root() {
		return
	}
	for range nlookup {
		if err := r.fs.ReleaseFile(ino); err != nil {
			errnoOf("forget", err)
			return
		}
	}
}

// notSupported answers operations cowfs does not offer with EOPNOTSUPP,
// never ENOSYS.
func notSupported() gofuse.Status { return gofuse.Status(syscall.EOPNOTSUPP) }
