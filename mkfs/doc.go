// Package mkfs writes a new, empty btrfs filesystem to a disk.Device: the
// library behind `cowfs mkfs`. It returns a Result and prints nothing.
//
// # What is written
//
// One device, SINGLE profiles, a free-space tree (compat_ro
// FREE_SPACE_TREE | FREE_SPACE_TREE_VALID; Options.NoFreeSpaceTree leaves
// it out), incompat MIXED_BACKREF | EXTENDED_IREF | SKINNY_METADATA |
// NO_HOLES — the image `mkfs.btrfs -m single -d single` makes (with
// `-R ^free-space-tree` when the tree is left out), committed once: every
// header, item and root carries generation 1, and only backup-root slot 0
// is filled.
//
// Chunks are identity-mapped (logical == physical) on device 1:
//
//	SYSTEM    1 MiB    4 MiB                         chunk tree leaf at 1 MiB
//	METADATA  5 MiB    size/10, clamped to           the other seven leaves,
//	                   [max(8 MiB, 512 nodes), 256 MiB]  packed from 5 MiB
//	DATA      after    size/10, clamped to [8 MiB, 1 GiB]    empty
//
// Sizes are rounded down to a MiB, so every chunk is 64 KiB aligned; the
// rest of the device stays unallocated for later chunks. Giving each a
// tenth of the filesystem, capped, is how the kernel sizes the chunks it
// creates. The leaves sit at the very start of their chunks, so none can
// reach the superblock copies at 64 MiB and 256 GiB, and being
// nodesize-aligned in a 64 KiB-aligned group none crosses a stripe
// boundary (checkLayout asserts both).
//
// Trees, one leaf each, in address order:
//
//	chunk (3)        DEV_ITEM, a CHUNK_ITEM per chunk
//	root (1)         ROOT_ITEMs of 2, 4, 5, 7, 9, -9; ROOT_TREE_DIR (6) with
//	                 INODE_ITEM, INODE_REF "..", DIR_ITEM "default" ->
//	                 (5 ROOT_ITEM -1); (5 INODE_REF 6) "default"
//	extent (2)       a BLOCK_GROUP_ITEM per chunk with its exact used bytes;
//	                 a skinny METADATA_ITEM per leaf, refs 1, inline
//	                 TREE_BLOCK_REF to its owner
//	dev (4)          a DEV_EXTENT per chunk
//	fs (5)           root directory 256 and its INODE_REF ".." (index 0)
//	csum (7)         empty
//	UUID (9)         the fs tree's uuid -> 5
//	data-reloc (-9)  like the fs tree
//	free space (10)  per chunk a FREE_SPACE_INFO (extent_count 1, no
//	                 flags) and one FREE_SPACE_EXTENT from the end of its
//	                 tree blocks to its end (superblock stripes included,
//	                 as the kernel lists a new block group); unless left out
//
// bytes_used = Σ block-group used = 9 × nodesize (8 without the tree). The superblock records
// uuid_tree_generation = 1 (the UUID tree is complete, no rescan) and
// cache_generation = 0 with the free-space tree (as mkfs.btrfs), 2^64−1
// (no v1 space cache) without.
//
// Deliberate differences from mkfs.btrfs, all accepted by btrfs check and
// the kernel: one commit (generation 1, not 6); new root directories have
// nbytes 0 as the kernel writes them (mkfs.btrfs writes nodesize); every
// chunk uses io_align = io_width = 64 KiB and sub_stripes 1 as the
// kernel's chunks do (mkfs.btrfs bootstraps SYSTEM with 4 KiB and 0).
//
// # Minimum size
//
// MinSizeNoTree is 5 MiB + the smallest METADATA chunk + 8 MiB: 21 MiB for
// node sizes up to 16 KiB, 29 MiB for 32 KiB, 45 MiB for 64 KiB. With a
// free-space tree the kernel's first mkdir at that size fails with ENOSPC
// for 16, 32 and 64 KiB nodes: the same experiment (cowfs mkfs --csum
// crc32c at each size, kernel 6.18 mount, mkdir, a 200 KiB file and 50
// small ones, btrfs check) first passed at 23, 32 and 51 MiB; MinSize adds
// 128 nodes of unallocated space (22, 22, 23, 33, 53 MiB for 4–64 KiB).
// MinSizeNoTree was found by
// experiment on kernel 6.18 and btrfs-progs 6.2: make the image, btrfs check
// it, mount it rw, create nested directories, an inline file, a 200 KiB
// file, a 6000-byte file and 50 small files, unmount, check again, remount
// read-only and compare. btrfs check and the mount itself passed at every
// size tried; the rw workload is what bounds the minimum. The kernel reserves metadata in units of
// 16 nodes per item it may insert and can overcommit only against
// unallocated device space, of which a minimum-size image has none. With
// 32 KiB and 64 KiB nodes an 8 MiB METADATA chunk fails the first mkdir
// with ENOSPC (so do 256 and 384 nodes); 448 nodes passed, and 512 are
// used for the margin. Node sizes up to 16 KiB pass with 8 MiB.
// mkfs.btrfs itself refuses anything under 45 MiB.
//
// # Crash safety
//
// Make validates everything and builds every block in memory before the
// first write. Then: zero the reserved first MiB (which holds the primary
// superblock) and every superblock mirror that exists on the device, flush
// — from here an old filesystem can no longer look valid; write every
// tree block, flush; write the superblock through disk.WriteSuper (primary
// durably, then the mirrors, then flush). The magic is therefore the last
// thing to reach the disk: a crash at any point leaves either the old
// device minus its superblocks, or the complete new filesystem.
// Mirrors beyond the filesystem's size (a filesystem smaller than its
// device) are wiped and not rewritten.
//
// Options.Validate rejects impossible parameters with ErrInvalidOptions,
// and Make refuses a device holding a valid btrfs superblock with
// ErrExists unless Force is set; in both cases nothing has been written.
package mkfs
