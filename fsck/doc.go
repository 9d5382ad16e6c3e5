// Package fsck checks a btrfs image read-only and returns a Report; it
// prints nothing (the cowfs fsck command renders the report).
//
// What it checks (btrfs-format.md §3):
//
//   - every superblock copy that fits the device, against the kernel's
//     superblock rules #1–#11 (a damaged mirror is a problem; a mirror beyond
//     the end of the device is simply absent);
//   - every tree block reachable from the superblock: the chunk tree, the
//     root tree, the tree of every ROOT_ITEM, and the log trees when
//     log_root is set. Each block is read through the chunk map and verified
//     by the checker against what its parent says of it: checksum, bytenr,
//     fsid, level, generation, first key, owner, then the leaf and node
//     structure and the item rules (#12–#36);
//   - that no block is reached twice, except a subvolume block shared by
//     snapshots (a block reached twice in one tree is a cycle or a double
//     reference);
//   - that the trees `btrfs check` cannot do without exist (#46).
//
// A bad block is reported and skipped, and the walk goes on; nothing in the
// image can make fsck panic. Problems are typed (Problem.Kind, and the
// checker's rule number): callers never look at message text.
//
// Not checked yet: the cross-reference rules #48–#68 (extent refcounts and
// backrefs, block-group usage, chunk ↔ dev extent ↔ block group agreement,
// inode link counts, directory sizes, checksum coverage).
//
// The same opened Image, verified reader and breadth-first walker serve
// `cowfs dump-tree`, so the dump prints exactly the blocks fsck verifies.
package fsck
