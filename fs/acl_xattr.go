package fs

import (
	"fmt"
	"syscall"
	"time"

	"cowfs/disk/format"
)

// Storing ACLs, as btrfs does (fs/btrfs/acl.c with the VFS's posix_acl.c):
// setting an access ACL sets the mode's permission bits from it and stores
// it only when it says more than the mode; chmod rewrites a stored access
// ACL; a directory's default ACL is inherited at create.

// setACL sets (or, value empty, removes) the ACL xattr name of inode ino:
// the xattr item and the inode (mode, ctime) in one handle. A default ACL
// exists only on directories (EACCES, as the VFS); removing an absent ACL
// succeeds, as in the kernel.
func (fs *FS) setACL(op string, ino uint64, name string, value []byte, killSGID bool) error {
	acl, err := parseACL(op, ino, value)
	if err != nil {
		return err
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	ii, err := fs.readInode(ino)
	if err != nil {
		return err
	}
	if name == format.ACLDefaultXattr && !isDir(ii.Mode) {
		if acl == nil {
			return nil
		}
		return opError(op, ino, "", syscall.EACCES, "a default ACL on a non-directory")
	}
	mode := ii.Mode
	if name == format.ACLAccessXattr && acl != nil {
		acl, mode = accessACLMode(acl, mode, killSGID)
	}
	e, err := fs.editXattr(ino, name)
	if err != nil {
		return err
	}
	if err := e.setACL(fs, acl); err != nil {
		return err
	}
	return fs.run(op, ino, xattrItems, func(h handle) error {
		if err := fs.applyXattr(h, e); err != nil {
			return err
		}
		_, err := fs.updateInode(h, ino, func(ii *format.InodeItem) { ii.Mode, ii.Ctime = mode, timespec(time.Now()) })
		return err
	})
}

// accessACLMode is the mode an access ACL gives, and the ACL to store (nil
// when minimal); killSGID clears the setgid bit.
func accessACLMode(acl format.ACL, mode uint32, killSGID bool) (format.ACL, uint32) {
	mode, minimal := aclMode(acl, mode)
	if killSGID {
		mode &^= syscall.S_ISGID
	}
	if minimal {
		return nil, mode
	}
	return acl, mode
}

// setACL stores acl as the xattr's value, or removes the xattr for nil.
func (e *xattrEdit) setACL(fs *FS, acl format.ACL) error {
	if acl == nil {
		e.remove()
		return nil
	}
	return e.set(fs, acl.Encode())
}

// readACL returns the ACL xattr name of ino (nil when it has none) with
// the bytes stored. REQUIRES: fs.ns.
func (fs *FS) readACL(ino uint64, name string) (format.ACL, []byte, error) {
	di, i, _, err := fs.xattrItem(ino, name)
	if err != nil || i < 0 {
		return nil, nil, err
	}
	acl, err := parseACL("read ACL", ino, di[i].Data)
	return acl, di[i].Data, err
}

// chmodACL prepares the change of ino's access ACL for a chmod to mode:
// nil when it has none. REQUIRES: fs.ns.
func (fs *FS) chmodACL(ino uint64, mode uint32) (*xattrEdit, error) {
	acl, _, err := fs.readACL(ino, format.ACLAccessXattr)
	if err != nil || acl == nil {
		return nil, err
	}
	e, err := fs.editXattr(ino, format.ACLAccessXattr)
	if err != nil {
		return nil, err
	}
	return e, e.setACL(fs, aclChmod(acl, mode))
}

// xattrValue is an xattr a new inode is created with.
type xattrValue struct {
	name  string
	value []byte
}

// inheritACL sets the mode and ACLs of a new inode in dir (the kernel's
// posix_acl_create). Where dir has a default ACL, the new inode's
// permission bits are limited by it instead of the umask; it gets an
// access ACL unless minimal, and a directory gets the default ACL too.
// Elsewhere the umask applies. Symlinks get neither. REQUIRES: fs.ns.
func (fs *FS) inheritACL(dir uint64, n *newInode) error {
	if n.mode&syscall.S_IFMT == syscall.S_IFLNK {
		return nil
	}
	def, raw, err := fs.readACL(dir, format.ACLDefaultXattr)
	if err != nil {
		return fmt.Errorf("inherit from directory %d: %w", dir, err)
	}
	if def == nil {
		n.mode &^= n.umask & 0o777
		return nil
	}
	acl, mode := aclInherit(def, n.mode)
	n.mode = mode
	if acl != nil {
		n.xattrs = append(n.xattrs, xattrValue{format.ACLAccessXattr, acl.Encode()})
	}
	if isDir(n.mode) {
		n.xattrs = append(n.xattrs, xattrValue{format.ACLDefaultXattr, raw})
	}
	return nil
}
