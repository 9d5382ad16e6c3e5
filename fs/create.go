package fs

import (
	"fmt"
	"syscall"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// Creator is who creates an inode: its owner, and the umask that limits
// its permission bits unless the directory has a default ACL (which then
// does instead, as the kernel's posix_acl_create).
type Creator struct {
	UID, GID uint32
	Umask    uint32
}

// newInode describes an inode to create.
type newInode struct {
	mode     uint32 // type and permission bits
	umask    uint32
	rdev     uint64 // kernel encoding
	uid, gid uint32
	target   string       // symlink target
	xattrs   []xattrValue // inherited ACLs
}

func (c Creator) inode(mode uint32) newInode {
	return newInode{mode: mode, umask: c.Umask, uid: c.UID, gid: c.GID}
}

// Create creates an empty regular file name in dir (mode's permission
// bits; no permission checks: the kernel's default_permissions does them).
func (fs *FS) Create(dir uint64, name string, mode uint32, c Creator) (Attr, error) {
	return fs.create("create", dir, name, c.inode(mode&07777|syscall.S_IFREG))
}

// Mknod creates a regular file, fifo, socket, or character or block
// device (rdev in the user-space encoding, see Attr.Rdev). A directory
// type fails with EPERM, any other type with EINVAL (as mknod(2)).
func (fs *FS) Mknod(dir uint64, name string, mode, rdev uint32, c Creator) (Attr, error) {
	n := c.inode(mode)
	switch mode & syscall.S_IFMT {
	case 0:
		n.mode |= syscall.S_IFREG
	case syscall.S_IFREG, syscall.S_IFIFO, syscall.S_IFSOCK:
	case syscall.S_IFCHR, syscall.S_IFBLK:
		n.rdev = kernelDev(rdev)
	case syscall.S_IFDIR:
		return Attr{}, opError("mknod", dir, name, syscall.EPERM, "a directory (use mkdir)")
	default:
		return Attr{}, opError("mknod", dir, name, syscall.EINVAL, fmt.Sprintf("file type %#o", mode&syscall.S_IFMT))
	}
	return fs.create("mknod", dir, name, n)
}

// Mkdir creates an empty directory.
func (fs *FS) Mkdir(dir uint64, name string, mode uint32, c Creator) (Attr, error) {
	return fs.create("mkdir", dir, name, c.inode(mode&07777|syscall.S_IFDIR))
}

// Symlink creates a symbolic link to target: its INODE_ITEM (mode 0777,
// size and nbytes = the target's length) and an inline EXTENT_DATA
// holding the target, as the kernel writes it (7 items reserved).
func (fs *FS) Symlink(dir uint64, name, target string, c Creator) (Attr, error) {
	switch {
	case target == "":
		return Attr{}, opError("symlink", dir, name, syscall.ENOENT, "empty target")
	case len(target) > fs.maxSymlink():
		return Attr{}, opError("symlink", dir, name, syscall.ENAMETOOLONG,
			fmt.Sprintf("target of %d bytes, at most %d", len(target), fs.maxSymlink()))
	}
	n := c.inode(0o777 | syscall.S_IFLNK)
	n.target = target
	return fs.create("symlink", dir, name, n)
}

// maxSymlink is the longest target: an inline extent holds at most a
// sector less one byte (the checks' rule) and PATH_MAX-1 bytes.
func (fs *FS) maxSymlink() int {
	return min(int(fs.sectorSize)-1, 4095, int(format.MaxItemSize(fs.nodeSize))-format.FileExtentInlineHeader)
}

// create adds a new inode and its name in one handle.
func (fs *FS) create(op string, dir uint64, name string, n newInode) (Attr, error) {
	if err := fs.writable(op, dir); err != nil {
		return Attr{}, err
	}
	if err := checkName(op, dir, name); err != nil {
		return Attr{}, err
	}
	if isDot(name) {
		return Attr{}, opError(op, dir, name, syscall.EEXIST, "")
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	parent, err := fs.dirInode(op, dir)
	if err != nil {
		return Attr{}, err
	}
	inheritGroup(parent, &n)
	if err := fs.inheritACL(dir, &n); err != nil {
		return Attr{}, err
	}
	if _, _, found, err := fs.findEntry(dir, name); err != nil || found {
		if err == nil {
			err = opError(op, dir, name, syscall.EEXIST, "")
		}
		return Attr{}, err
	}
	index, err := fs.nextIndex(dir)
	if err != nil {
		return Attr{}, err
	}
	ino := fs.nextIno.Add(1) - 1
	items := createItems + len(n.xattrs)
	if n.target != "" {
		items = symlinkItems
	}
	var ii *format.InodeItem
	err = fs.run(op, dir, items, func(h handle) error {
		ii = newInodeItem(h, n)
		if err := fs.insertInode(h, dir, name, ino, index, ii, n.target); err != nil {
			return err
		}
		return fs.insertXattrs(h, ino, n.xattrs)
	})
	if err != nil {
		return Attr{}, err
	}
	fs.ninodes.add(1)
	return fs.attrOf(ino, ii), nil
}

// inheritGroup: in a setgid directory a new inode takes the directory's
// group, and a new directory the setgid bit too (the kernel's
// inode_init_owner; the VFS has already dropped a setgid bit the creator
// may not set).
func inheritGroup(parent *format.InodeItem, n *newInode) {
	if parent.Mode&syscall.S_ISGID == 0 {
		return
	}
	n.gid = parent.GID
	if isDir(n.mode) {
		n.mode |= syscall.S_ISGID
	}
}

// newInodeItem is the INODE_ITEM of a new inode: created and changed in
// this transaction, one link, all four times now.
func newInodeItem(h handle, n newInode) *format.InodeItem {
	now := timespec(time.Now())
	ii := &format.InodeItem{Generation: h.Transid(), Transid: h.Transid(), Nlink: 1,
		UID: n.uid, GID: n.gid, Mode: n.mode, Rdev: n.rdev,
		Atime: now, Ctime: now, Mtime: now, Otime: now}
	if n.target != "" {
		ii.Size, ii.Nbytes = uint64(len(n.target)), uint64(len(n.target))
	}
	return ii
}

// insertInode inserts the INODE_ITEM and INODE_REF of a new inode in one
// batch (as the kernel does), its name in dir, and a symlink's target.
func (fs *FS) insertInode(h handle, dir uint64, name string, ino, index uint64, ii *format.InodeItem, target string) error {
	ref := format.InodeRefItem{{Index: index, Name: []byte(name)}}
	keys := []format.Key{inodeKey(ino), {ObjectID: ino, Type: format.InodeRefKey, Offset: dir}}
	if err := ctree.InsertItems(h, fs.root, keys, [][]byte{ii.Encode(), ref.Encode()}); err != nil {
		return fmt.Errorf("inode %d: %w", ino, err)
	}
	if err := fs.addDirEntries(h, dir, name, ino, format.FileTypeOf(ii.Mode), index, timeOf(ii.Ctime)); err != nil {
		return err
	}
	if target == "" {
		return nil
	}
	fe := format.FileExtent{Generation: h.Transid(), RAMBytes: uint64(len(target)),
		Type: format.FileExtentInline, Inline: []byte(target)}
	return ctree.InsertItem(h, fs.root, format.Key{ObjectID: ino, Type: format.ExtentDataKey}, fe.Encode())
}

// insertXattrs adds the xattrs of a new inode.
func (fs *FS) insertXattrs(h handle, ino uint64, xs []xattrValue) error {
	for _, x := range xs {
		di := format.DirItem{{Type: format.FtXattr, Transid: h.Transid(), Name: []byte(x.name), Data: x.value}}
		if err := ctree.InsertItem(h, fs.root, xattrKey(ino, x.name), di.Encode()); err != nil {
			return fmt.Errorf("inode %d xattr %q: %w", ino, x.name, err)
		}
	}
	return nil
}

// Readlink returns the target of symlink ino (EINVAL for anything else).
func (fs *FS) Readlink(ino uint64) (string, error) {
	ii, err := fs.readInode(ino)
	if err != nil {
		return "", err
	}
	if ii.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		return "", opError("readlink", ino, "", syscall.EINVAL, "not a symlink")
	}
	b, err := ctree.Lookup(fs.root, format.Key{ObjectID: ino, Type: format.ExtentDataKey})
	if err != nil {
		return "", wrap("readlink", ino, err)
	}
	fe, err := format.DecodeFileExtent(b)
	if err != nil {
		return "", wrap("readlink", ino, err)
	}
	if fe.Type != format.FileExtentInline || fe.Compression != format.CompressNone {
		return "", opError("readlink", ino, "", syscall.EIO,
			fmt.Sprintf("symlink extent of type %d compression %d", fe.Type, fe.Compression))
	}
	return string(fe.Inline), nil
}
