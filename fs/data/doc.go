// Package data stores the file data of one subvolume tree as btrfs does:
// EXTENT_DATA items in the subvolume's tree (inline, or pointing into data
// extents), one checksum per data sector in the csum tree, and an
// EXTENT_DATA_REF per referencing file extent in the extent tree (queued as
// delayed references through the transaction handle).
//
// Files is used by the namespace layer (package fs), which owns the
// inodes: it passes each call the inode's size and NODATASUM flag, applies
// the returned change of nbytes to the INODE_ITEM, and serializes the
// calls on one inode (calls on different inodes may run concurrently).
//
// The rules the writer follows, and where it differs from the kernel, are
// in docs/data.md:
//
//   - Write replaces a file range: btrfs_drop_extents' trimming and
//     splitting of the file extents it overlaps, then either one inline
//     extent (the whole file, at most 2,048 bytes and below a sector) or
//     new regular extents of at most 128 MiB, written with O_DIRECT through
//     the chunk map, partial first and last sectors read, modified and
//     rewritten (copy on write: nothing is overwritten in place).
//   - ReadAt verifies every sector of a regular extent against its
//     checksum and fails with EIO (*CsumError) on a mismatch or a missing
//     checksum; holes and prealloc extents read as zeros.
//   - Truncate, PunchHole, Allocate (fallocate mode 0 with written zeros)
//     and DropAll complete the set the namespace layer needs.
package data
