// Package fs is the filesystem layer of cowfs: the namespace and files of
// subvolume 5 of a btrfs image, addressed by inode number, for the FUSE
// adapter (package cowfs/fuse). It writes inodes, names, xattrs and orphan
// items exactly as the kernel does (btrfs-format.md §2.5, §2.7) and calls
// the file-data layer (cowfs/fs/data) for extents and checksums, each
// operation in one transaction handle with the kernel's item count.
//
// Locks (docs/fs.md, "Locks"): the namespace lock FS.ns, then inode locks,
// then a transaction handle; a goroutine takes every lock before it starts
// a handle and never waits for a lock while holding one, and the
// BeforeCommit hook only try-locks, so commits cannot deadlock.
//
// Writes are buffered per inode and flushed by Fsync, Sync, Close, every
// commit (the BeforeCommit hook), a dirty-bytes threshold, and before
// SetAttr, Fallocate and removal (docs/fs.md, "Buffered writes").
//
// Errors wrap the syscall.Errno the kernel returns in the same case
// (Errno extracts it); transaction.ErrReadOnly matches EROFS.
package fs
