// Package format is the btrfs on-disk layout: every structure cowfs reads or
// writes, the key types and well-known objectids, checksums and name hashes.
//
// Two representations are used, each where it fits:
//
//   - Byte views (Header, Leaf, Node) for tree blocks. An extent buffer holds a
//     block's bytes; these accessors read and write its fields in place, so the
//     header's WRITTEN bit lives in the bytes exactly as on disk.
//   - Plain structs with Decode/Encode for superblocks and item payloads. Decode
//     never panics and never reads out of range: it returns ErrShort or
//     ErrCorrupt-marked errors on bad input. Encode of a decoded value gives back
//     the same bytes.
//
// Everything is little-endian and packed. The layouts follow the documented
// btrfs format (the kernel's include/uapi/linux/btrfs_tree.h and the
// btrfs-progs documentation of the on-disk format); no kernel code is translated.
package format
