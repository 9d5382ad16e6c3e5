package fs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// Extended attributes are XATTR_ITEMs (ino, XATTR_ITEM, name_hash(name))
// with the layout of a DIR_ITEM (type 8, zero location, the value after
// the name); names whose hashes collide share one item, as in the kernel.

// SetXattr flags (setxattr(2)).
const (
	XattrCreate  = 1 // fail with EEXIST if the attribute exists
	XattrReplace = 2 // fail with ENODATA if it does not
	// XattrKillSGID: setting an access ACL also clears the setgid bit (the
	// caller is not in the file's group and lacks CAP_FSETID; FUSE's
	// SETXATTR_ACL_KILL_SGID).
	XattrKillSGID = 1 << 8
)

// XattrSizeMax is the largest value setxattr(2) passes (XATTR_SIZE_MAX).
const XattrSizeMax = 65536

// xattrPrefixes are the namespaces btrfs accepts, besides the two ACLs.
var xattrPrefixes = []string{"user.", "trusted.", "security."}

func xattrKey(ino uint64, name string) format.Key {
	return format.Key{ObjectID: ino, Type: format.XattrItemKey, Offset: format.NameHash([]byte(name))}
}

// checkXattrName: ERANGE for an empty or over-long name (as the VFS),
// EOPNOTSUPP for a namespace btrfs has no handler for.
func checkXattrName(op string, ino uint64, name string) error {
	if name == "" || len(name) > format.NameMax {
		return opError(op, ino, "", syscall.ERANGE, fmt.Sprintf("xattr name of %d bytes", len(name)))
	}
	for _, p := range xattrPrefixes {
		if strings.HasPrefix(name, p) || isACLName(name) {
			return nil
		}
	}
	return opError(op, ino, "", syscall.EOPNOTSUPP, fmt.Sprintf("xattr namespace of %q", name))
}

// xattrItem reads the item holding name: its entries and the index of
// name among them (-1 when absent); nil entries when there is no item.
func (fs *FS) xattrItem(ino uint64, name string) (format.DirItem, int, int, error) {
	b, err := ctree.Lookup(fs.root, xattrKey(ino, name))
	if errors.Is(err, ctree.ErrNotFound) {
		return nil, -1, 0, nil
	}
	if err != nil {
		return nil, -1, 0, err
	}
	di, err := format.DecodeDirItem(b)
	if err != nil {
		return nil, -1, 0, wrap("xattr", ino, err)
	}
	for i, e := range di {
		if bytes.Equal(e.Name, []byte(name)) {
			return di, i, len(b), nil
		}
	}
	return di, -1, len(b), nil
}

// GetXattr returns the value of xattr name of inode ino (ENODATA when it
// has none). A caller's buffer being too small (ERANGE) is the adapter's
// business.
func (fs *FS) GetXattr(ino uint64, name string) ([]byte, error) {
	if name == "" || len(name) > format.NameMax {
		return nil, opError("getxattr", ino, "", syscall.ERANGE, "")
	}
	if _, err := fs.readInode(ino); err != nil {
		return nil, err
	}
	di, i, _, err := fs.xattrItem(ino, name)
	if err != nil {
		return nil, err
	}
	if i < 0 {
		return nil, opError("getxattr", ino, "", syscall.ENODATA, fmt.Sprintf("no xattr %q", name))
	}
	return append([]byte{}, di[i].Data...), nil
}

// ListXattr returns the names of inode ino's xattrs, in key order.
func (fs *FS) ListXattr(ino uint64) ([]string, error) {
	if _, err := fs.readInode(ino); err != nil {
		return nil, err
	}
	items, err := fs.scan(format.Key{ObjectID: ino, Type: format.XattrItemKey},
		format.Key{ObjectID: ino, Type: format.XattrItemKey + 1})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, it := range items {
		di, err := format.DecodeDirItem(it.Data)
		if err != nil {
			return nil, wrap("listxattr", ino, err)
		}
		for _, e := range di {
			names = append(names, string(e.Name))
		}
	}
	return names, nil
}

// SetXattr sets xattr name of inode ino to value (2 items: the xattr item
// and the inode's ctime). flags: XattrCreate, XattrReplace. A value that
// cannot fit in a leaf (with the other names sharing its item) fails with
// ENOSPC, as in the kernel; one above XattrSizeMax with E2BIG. The two ACL
// names go through setACL (acl_xattr.go), as the kernel's set_acl.
func (fs *FS) SetXattr(ino uint64, name string, value []byte, flags uint32) error {
	const op = "setxattr"
	if err := fs.writable(op, ino); err != nil {
		return err
	}
	if err := checkXattrName(op, ino, name); err != nil {
		return err
	}
	if flags&^(XattrCreate|XattrReplace|XattrKillSGID) != 0 {
		return opError(op, ino, "", syscall.EINVAL, "bad flags")
	}
	if len(value) > XattrSizeMax {
		return opError(op, ino, "", syscall.E2BIG, fmt.Sprintf("value of %d bytes", len(value)))
	}
	if isACLName(name) {
		return fs.setACL(op, ino, name, value, flags&XattrKillSGID != 0)
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	if _, err := fs.readInode(ino); err != nil {
		return err
	}
	e, err := fs.editXattr(ino, name)
	if err != nil {
		return err
	}
	switch {
	case e.exists() && flags&XattrCreate != 0:
		return opError(op, ino, "", syscall.EEXIST, fmt.Sprintf("xattr %q exists", name))
	case !e.exists() && flags&XattrReplace != 0:
		return opError(op, ino, "", syscall.ENODATA, fmt.Sprintf("no xattr %q", name))
	}
	if err := e.set(fs, value); err != nil {
		return err
	}
	return fs.run(op, ino, xattrItems, func(h handle) error {
		if err := fs.applyXattr(h, e); err != nil {
			return err
		}
		return fs.touchInode(h, ino)
	})
}

// xattrEdit is a change of one xattr, read before its handle starts and
// written inside it: the item holding the name (shared by colliding
// names), the name's index in it (-1: absent), the item's size on disk.
type xattrEdit struct {
	ino     uint64
	name    string
	di      format.DirItem
	i       int
	oldSize int
	changed bool
}

// editXattr reads the item of xattr name. REQUIRES: fs.ns.
func (fs *FS) editXattr(ino uint64, name string) (*xattrEdit, error) {
	di, i, oldSize, err := fs.xattrItem(ino, name)
	if err != nil {
		return nil, err
	}
	return &xattrEdit{ino: ino, name: name, di: di, i: i, oldSize: oldSize}, nil
}

func (e *xattrEdit) exists() bool { return e.i >= 0 }

// set gives the xattr value; ENOSPC when its item would not fit a leaf.
func (e *xattrEdit) set(fs *FS, value []byte) error {
	de := format.DirEntry{Type: format.FtXattr, Name: []byte(e.name), Data: value}
	if e.exists() {
		e.di[e.i] = de
	} else {
		e.i, e.di = len(e.di), append(e.di, de)
	}
	e.changed = true
	if n := len(e.di.Encode()); n > int(format.MaxItemSize(fs.nodeSize)) {
		return opError("setxattr", e.ino, "", syscall.ENOSPC,
			fmt.Sprintf("xattr %q of %d bytes does not fit a leaf", e.name, len(value)))
	}
	return nil
}

// remove drops the xattr, if it exists.
func (e *xattrEdit) remove() {
	if !e.exists() {
		return
	}
	e.di, e.i, e.changed = append(e.di[:e.i:e.i], e.di[e.i+1:]...), -1, true
}

// applyXattr writes the edited item (inserted, resized or deleted); an
// unchanged edit writes nothing.
func (fs *FS) applyXattr(h handle, e *xattrEdit) error {
	if !e.changed {
		return nil
	}
	key := xattrKey(e.ino, e.name)
	if len(e.di) == 0 {
		return fs.setItem(h, key, e.oldSize, nil)
	}
	if e.exists() {
		e.di[e.i].Transid = h.Transid()
	}
	if e.oldSize == 0 {
		return ctree.InsertItem(h, fs.root, key, e.di.Encode())
	}
	return fs.setItem(h, key, e.oldSize, e.di.Encode())
}

// touchInode sets an inode's ctime (an attribute changed).
func (fs *FS) touchInode(h handle, ino uint64) error {
	now := timespec(time.Now())
	_, err := fs.updateInode(h, ino, func(ii *format.InodeItem) { ii.Ctime = now })
	return err
}

// RemoveXattr removes xattr name of inode ino (ENODATA when absent): 2
// items. An ACL goes as the kernel's set_acl(NULL) removes it.
func (fs *FS) RemoveXattr(ino uint64, name string) error {
	const op = "removexattr"
	if err := fs.writable(op, ino); err != nil {
		return err
	}
	if name == "" || len(name) > format.NameMax {
		return opError(op, ino, "", syscall.ERANGE, "")
	}
	if isACLName(name) {
		return fs.setACL(op, ino, name, nil, false)
	}
	fs.ns.Lock()
	defer fs.ns.Unlock()
	if _, err := fs.readInode(ino); err != nil {
		return err
	}
	e, err := fs.editXattr(ino, name)
	if err != nil {
		return err
	}
	if !e.exists() {
		return opError(op, ino, "", syscall.ENODATA, fmt.Sprintf("no xattr %q", name))
	}
	e.remove()
	return fs.run(op, ino, xattrItems, func(h handle) error {
		if err := fs.applyXattr(h, e); err != nil {
			return err
		}
		return fs.touchInode(h, ino)
	})
}
