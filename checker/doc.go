// Package checker validates single superblocks and tree blocks against the
// rules the Linux kernel enforces when it mounts a filesystem and reads or
// writes a tree block (btrfs-format.md §3.1–3.4, rules #1–#36). It is pure:
// it judges bytes and performs no I/O, except ReadSupers and ReadSuper, which
// read the superblock copies through package disk and judge each one: every
// opener of an image reads its superblock through them.
//
// Entry points:
//
//   - CheckSuper / CheckSuperAll: superblock rules #1–#11 (#11 are warnings),
//     including every entry of the sys_chunk_array (#9, which reuses #36).
//   - ReadSupers / ReadSuper: the superblock copies of a device, judged by
//     #1–#10; the newest valid one.
//   - CheckBlock / CheckBlockAll: a tree block as read from disk. The order
//     follows the kernel: the header is matched against what the reader
//     expected (bytenr #12, fsid #13, level and checksum #14, level #15,
//     generation #16, first key #17, owner #18), then the leaf or node
//     structure (#19–#23), then, for a leaf with the WRITTEN flag, every item
//     (#25–#36).
//   - CheckWrite: the checks run before a block is written (#24): the same
//     structure and item checks, plus a generation newer than the last
//     committed transaction. The caller sets WRITTEN before calling it, as
//     the kernel does; the checksum is not verified (it is computed after).
//   - CheckLeaf, CheckNode, CheckChunk: single rule families, for callers
//     that already know what they hold.
//
// The …All variants collect every problem instead of stopping at the first,
// for fsck. Two exceptions keep the list meaningful: when the header's
// bytenr or fsid is wrong the block is not the one asked for and nothing
// more is checked, and items are checked only in slots whose layout is
// sound. Within one item only the first problem is reported, as the kernel
// does.
//
// Every problem is an *Error carrying the rule number of btrfs-format.md §3,
// so callers switch on Error.Rule, never on message text. It is cowfs's one
// corruption error: the tree code reports KindTree and the delayed-reference
// runner KindExtentRef with it. Messages use the
// kernel tree-checker's form, e.g.
//
//	corrupt leaf: root=5 block=30408704 slot=3, invalid key order, have (256 INODE_ITEM 0) expect greater than (257 INODE_ITEM 0)
//
// errors.Is(err, format.ErrCorrupt) holds for every rule error. Rule 0
// (RuleInput) is the one exception: it reports a buffer or Context the
// checker cannot judge (wrong length, invalid node size), a caller bug, not
// corrupt metadata.
//
// Not checked here, because they need more than one block: cross-tree
// rules (#37 onwards, fsck's job), the header's backref revision and
// chunk_tree_uuid (no kernel read check), and tree-block placement in chunks.
// A Context with SuperGeneration 0 means "unknown": the "≤ super generation
// + 1" bounds are then skipped, and so is the committed-block condition of
// the first-key check (it always runs).
//
// The rules come from btrfs-format.md as facts; no kernel or btrfs-progs
// code is translated.
package checker
