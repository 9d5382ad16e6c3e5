// Package dump renders superblocks and tree blocks as text laid out like
// btrfs-progs' `btrfs inspect-internal dump-super -f` and `dump-tree`, so that
// the output of the two tools can be compared with diff.
//
// Only the printed layout is matched; it was learnt by running btrfs-progs
// 6.2 on images made by mkfs.btrfs and the kernel (field names, order, tabs,
// number formats). No btrfs-progs code is translated. Every renderer here is
// pure: it takes decoded or raw bytes and writes text; it never reads a
// device and never validates (the caller verifies blocks with the checker
// before handing them over). Malformed input never panics.
//
// Differences from btrfs-progs 6.2 (on the test images of
// tests/inspect_test.go, mkfs.btrfs- and kernel-written, there are none
// beyond the first):
//
//  1. No "btrfs-progs v6.2" banner line before a tree dump: we are not
//     btrfs-progs.
//  2. A block that fails verification is replaced by the checker's one-line
//     error (kernel tree-checker wording) on stdout, and dump-tree exits 1;
//     btrfs-progs prints its own wording on stderr, or the damaged block.
//  3. An item whose bytes do not decode prints one "\t\tinvalid item: …"
//     line where btrfs-progs prints whatever fields it can read. Verified
//     blocks hold such items only for types the checker does not inspect.
//  4. Flag strings of invalid combinations (several type or profile bits, or
//     FULL_BACKREF alone) are not guaranteed to match: we join every set bit
//     with "|". Tree blocks holding them fail the checker first.
//  5. -t also accepts data-reloc, log, free-space, block-group and negative
//     ids (btrfs-progs wants data_reloc, tree_log, free_space or the full
//     unsigned id); "-t log" prints the log root tree, as "-t tree_log" does.
//  6. Error messages (bad magic, unreadable copy, unknown tree) are our own
//     one-line wording on stderr.
package dump
