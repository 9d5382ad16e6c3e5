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
//   - that the trees `btrfs check` cannot do without exist (#46);
//   - the cross-reference rules of `btrfs check` (#49–#68), once the walk
//     is over: every tree block and data extent has exactly one extent item
//     whose refs and backrefs match what points at it (#49–#52), keys sit in
//     their own trees (#53), chunks, block groups, dev extents and devices
//     agree with each other and with the superblock's counters (#54–#57),
//     the free-space tree matches the extent tree (#58), each subvolume's
//     inodes, names, directory sizes, file extents and checksum coverage are
//     consistent (#60–#66), checksum items lie in data extents (#67, and
//     with Options.CheckDataCsum the data matches them), and subvolumes are
//     linked by ROOT_REF, ROOT_BACKREF and directory entries (#68).
//
// A bad block is reported and skipped, and the walk goes on; nothing in the
// image can make fsck panic. Problems are typed (Problem.Kind, and the
// rule number): callers never look at message text.
//
// The cross-reference checks (xref.go) read no block twice except in the
// fs-root pass: the walk records pointers and items in compact slices,
// which are sorted and merged afterwards. A family of checks needing a tree
// the walk could not read whole (a damaged block, a tree being deleted) is
// skipped (Report.Skipped) rather than flooding the report with echoes of
// the damage already reported. docs/fsck.md lists every rule, its test,
// and where we differ from btrfs check.
//
// The same opened Image, verified reader and breadth-first walker serve
// `cowfs dump-tree`, so the dump prints exactly the blocks fsck verifies.
package fsck
