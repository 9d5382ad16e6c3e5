// Package alloc manages space, as btrfs's block-group, free-space,
// space-info and block-reserve code does, for one device:
//
//   - block groups (one per chunk) with their free space kept in memory,
//     derived at open from the extent tree (btrfs without a free-space
//     tree does the same), and the counters used / reserved / pinned /
//     super whose sum with free is the group's length (extents.go has the
//     life of an extent);
//   - allocation of tree blocks (nodesize-aligned, never across a 64 KiB
//     stripe boundary, never over a superblock copy) and data extents
//     (sector-aligned), next-fit;
//   - new chunks when the groups of a type are full (chunk.go); their
//     items are inserted by the transaction;
//   - pinned extents: freed space stays unusable until the freeing
//     transaction's superblock is durable (Unpin);
//   - space_info and block reserves (rsv.go), and the kernel-style dump of
//     both (dump.go);
//   - delayed references: the queue of extent reference changes that the
//     transaction applies to the extent tree at commit (delayed_refs.go).
//
// alloc sits below ctree: it knows no trees. The transaction package
// loads it from the trees at open and turns its decisions into items.
package alloc
