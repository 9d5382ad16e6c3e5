package fs

import (
	"math"
	"syscall"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/fs/data"
)

// MaxFileSize is the largest file size (the kernel's MAX_LFS_FILESIZE for
// btrfs on 64-bit): writing or truncating beyond it fails with EFBIG.
const MaxFileSize = math.MaxInt64

// Attr is what stat returns for an inode.
type Attr struct {
	Ino   uint64
	Mode  uint32 // file type and permission bits, as stored
	Nlink uint32
	UID   uint32
	GID   uint32
	// Rdev is the device number of a character or block device in the
	// encoding of Linux user space and FUSE (major<<8 | minor, wide
	// numbers split as new_encode_dev does); the INODE_ITEM holds the
	// kernel's internal form, major<<20 | minor.
	Rdev uint32
	Size uint64
	// Blocks is the space used in 512-byte units: nbytes plus buffered
	// data, rounded up to sectors.
	Blocks  uint64
	Blksize uint32
	Atime   time.Time
	Mtime   time.Time
	Ctime   time.Time
	Btime   time.Time // otime: creation
	// Generation is the transaction that created the inode (for NFS-style
	// file handles).
	Generation uint64
	Flags      uint64 // btrfs inode flags (NODATASUM, NODATACOW, ...)
}

// attrOf converts an INODE_ITEM.
func (fs *FS) attrOf(ino uint64, ii *format.InodeItem) Attr {
	return Attr{Ino: ino, Mode: ii.Mode, Nlink: ii.Nlink, UID: ii.UID, GID: ii.GID,
		Rdev: userDev(ii.Rdev), Size: ii.Size, Blocks: alignUp(ii.Nbytes, fs.sectorSize) / 512,
		Blksize: uint32(fs.sectorSize), Atime: timeOf(ii.Atime), Mtime: timeOf(ii.Mtime),
		Ctime: timeOf(ii.Ctime), Btime: timeOf(ii.Otime), Generation: ii.Generation, Flags: ii.Flags}
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) / a * a }

func alignDown(v, a uint64) uint64 { return v / a * a }

// kernelDev converts a user-space device number to the kernel's internal
// dev_t (major<<20 | minor), which btrfs stores in the INODE_ITEM.
func kernelDev(dev uint32) uint64 {
	major := uint64(dev&0xfff00) >> 8
	minor := uint64(dev&0xff) | uint64(dev>>12)&0xfff00
	return major<<20 | minor
}

// userDev is the inverse of kernelDev.
func userDev(rdev uint64) uint32 {
	major, minor := uint32(rdev>>20)&0xfff, uint32(rdev&0xfffff)
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// GetAttr returns the attributes of inode ino, buffered writes included.
func (fs *FS) GetAttr(ino uint64) (Attr, error) {
	ii, err := fs.readInode(ino)
	if err != nil {
		return Attr{}, err
	}
	return fs.overlay(ino, fs.attrOf(ino, ii)), nil
}

// overlay applies the in-memory size and times of a regular file's
// buffered writes (its size changes only under its inode lock, so the
// in-memory size is always current; a directory's changes with its names).
func (fs *FS) overlay(ino uint64, a Attr) Attr {
	in := fs.lookupState(ino)
	if in == nil {
		return a
	}
	defer fs.unpin(in)
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.loaded || in.gone || in.mode&syscall.S_IFMT != syscall.S_IFREG {
		return a
	}
	a.Size = in.size
	if !in.mtime.IsZero() {
		a.Mtime, a.Ctime = in.mtime, in.mtime
	}
	a.Blocks += alignUp(uint64(in.buffered.Load()), fs.sectorSize) / 512
	return a
}

// SetAttrIn says which attributes SetAttr changes: the nil fields stay.
type SetAttrIn struct {
	Mode     *uint32 // permission bits (07777); the file type is kept
	UID, GID *uint32
	Size     *uint64 // regular files only
	Atime    *time.Time
	Mtime    *time.Time
}

// SetAttr changes attributes of inode ino in one handle (1 item, plus the
// data layer's items when the size changes) and returns the new ones.
// ctime becomes the current time, as the kernel sets it on every change;
// a size change also sets mtime unless Mtime is given.
func (fs *FS) SetAttr(ino uint64, in SetAttrIn) (Attr, error) {
	if err := fs.writable("setattr", ino); err != nil {
		return Attr{}, err
	}
	if in.Mode != nil { // the access ACL follows the mode: ns guards xattrs
		fs.ns.Lock()
		defer fs.ns.Unlock()
	}
	st := fs.pin(ino)
	defer fs.unpin(st)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := fs.load(st); err != nil {
		return Attr{}, err
	}
	var acl *xattrEdit
	if in.Mode != nil {
		var err error
		if acl, err = fs.chmodACL(ino, *in.Mode); err != nil {
			return Attr{}, err
		}
	}
	if in.Size != nil {
		if err := fs.checkTruncate(st, *in.Size); err != nil {
			return Attr{}, err
		}
	}
	// Buffered data goes first, so the item's size and times are final.
	if err := fs.flushLocked(st); err != nil {
		return Attr{}, err
	}
	tr, err := fs.planTruncate(st, in.Size)
	if err != nil {
		return Attr{}, err
	}
	items := setattrItems
	if tr != nil {
		items += fs.dropItems(tr.exts)
	}
	if acl != nil {
		items++
	}
	var ii *format.InodeItem
	err = fs.run("setattr", ino, items, func(h handle) error {
		if acl != nil {
			if err := fs.applyXattr(h, acl); err != nil {
				return err
			}
		}
		var err error
		ii, err = fs.setAttr(h, st, in, tr)
		return err
	})
	if err != nil {
		return Attr{}, err
	}
	return fs.attrOf(ino, ii), nil
}

// truncation is SetAttr's size change.
type truncation struct {
	from, to uint64
	exts     []data.ExtentCost // the file extents its handle drops
	orphan   bool              // truncated in steps: delete the orphan item
}

// planTruncate prepares a size change (nil: none); one that drops more
// extents than a handle may is started in steps (startTruncate).
// REQUIRES: st.mu, st flushed.
func (fs *FS) planTruncate(st *inode, size *uint64) (*truncation, error) {
	if size == nil || *size == st.size {
		return nil, nil
	}
	tr := &truncation{from: st.size, to: *size}
	if tr.to > tr.from {
		return tr, nil
	}
	steps, last, err := fs.dropPlan(st.ino, alignUp(tr.to, fs.sectorSize))
	if err != nil {
		return nil, err
	}
	tr.exts = last.exts
	if len(steps) > 0 {
		if err := fs.startTruncate(st, tr.to, steps); err != nil {
			return nil, err
		}
		tr.from, tr.orphan = MaxFileSize, true
	}
	return tr, nil
}

// checkTruncate validates a size change.
func (fs *FS) checkTruncate(st *inode, size uint64) error {
	switch {
	case isDir(st.mode):
		return opError("truncate", st.ino, "", syscall.EISDIR, "")
	case st.mode&syscall.S_IFMT != syscall.S_IFREG:
		return opError("truncate", st.ino, "", syscall.EINVAL, "not a regular file")
	case size > MaxFileSize:
		return opError("truncate", st.ino, "", syscall.EFBIG, "")
	}
	return nil
}

// setAttr applies in inside h. REQUIRES: st.mu, st loaded and flushed.
func (fs *FS) setAttr(h handle, st *inode, in SetAttrIn, tr *truncation) (*format.InodeItem, error) {
	now := time.Now()
	var delta int64
	if tr != nil {
		d, err := fs.data.Truncate(h, st.ino, tr.from, tr.to, st.nodatasum())
		if err != nil {
			return nil, err
		}
		delta = d
		if tr.orphan {
			if err := ctree.DeleteItem(h, fs.root, orphanKey(st.ino)); err != nil {
				return nil, err
			}
		}
	}
	ii, err := fs.updateInode(h, st.ino, func(ii *format.InodeItem) {
		if in.Mode != nil {
			ii.Mode = ii.Mode&syscall.S_IFMT | *in.Mode&07777
		}
		if in.UID != nil {
			ii.UID = *in.UID
		}
		if in.GID != nil {
			ii.GID = *in.GID
		}
		if tr != nil {
			ii.Size = tr.to
			ii.Nbytes = uint64(int64(ii.Nbytes) + delta)
			ii.Mtime = timespec(now)
		}
		if in.Atime != nil {
			ii.Atime = timespec(*in.Atime)
		}
		if in.Mtime != nil {
			ii.Mtime = timespec(*in.Mtime)
		}
		ii.Ctime = timespec(now)
	})
	if err != nil {
		return nil, err
	}
	st.mode, st.size, st.diskSize = ii.Mode, ii.Size, ii.Size
	return ii, nil
}
