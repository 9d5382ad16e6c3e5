package fs

import (
	"fmt"

	"cowfs/transaction"
)

// handle is a transaction handle of the running transaction.
type handle = *transaction.Handle

// Item counts each operation reserves at Start, as the kernel's.
const (
	createItems  = transaction.CreateItems // inode, ref, dir item, dir index, parent
	symlinkItems = 7                       // create + the inline extent + an xattr (security)
	linkItems    = 5                       // ref, dir item, dir index, parent, inode
	unlinkItems  = 5                       // dir item, dir index, ref, parent, inode
	orphanItems  = 1
	renameItems  = 11
	setattrItems = 1
	xattrItems   = 2 // the xattr item and the inode
)

// run starts a handle of items, runs fn in it and ends it. An error from
// fn aborts the transaction (the filesystem turns read-only and the image
// keeps its last commit), as the kernel's btrfs_abort_transaction: fn runs
// only after every check that can fail without a change.
func (fs *FS) run(op string, ino uint64, items int, fn func(h handle) error) error {
	h, err := fs.t.Start(items)
	if err != nil {
		return wrap(op, ino, err)
	}
	return fs.runIn(h, op, ino, fn)
}

// runIn is run in a handle already started.
func (fs *FS) runIn(h handle, op string, ino uint64, fn func(h handle) error) error {
	if err := fn(h); err != nil {
		err = fmt.Errorf("%s inode %d: %w", op, ino, err)
		fs.t.Abort(err)
		return endHandle(h, err)
	}
	return wrap(op, ino, h.End())
}

// endHandle ends h and returns err, or End's error when err is nil.
func endHandle(h handle, err error) error {
	if e := h.End(); err == nil {
		err = e
	}
	return err
}
