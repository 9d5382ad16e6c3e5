// Package fuse serves a cowfs filesystem (package cowfs/fs) through the
// kernel's FUSE with github.com/hanwen/go-fuse/v2: it is the only code
// importing go-fuse. It speaks the raw protocol by inode number: a FUSE
// node id is the btrfs inode number (the root directory, inode 256, is
// node 1). The kernel's lookup references are counted in the filesystem
// (with the opens) until Forget, so an inode unlinked while the kernel
// still knows it stays as an orphan. Errors become errno in
// one table (errno.go): unknown errors are EIO, never ENOSYS (only FLUSH
// answers ENOSYS, on purpose: ops_file.go). A panic in a
// handler is logged with its stack and answered with EIO; the daemon keeps
// serving.
//
// The kernel's sync(2) never reaches a FUSE daemon, so a commit can be
// forced with an ioctl on the mount's root directory (SyncIoctl; `cowfs
// sync`), which also returns the daemon's pid so that `cowfs umount` can
// wait for its final commit.
package fuse
