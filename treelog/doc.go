// Package treelog reads and replays fsync log trees in the kernel's
// format: super.log_root points to a log root tree (owner TREE_LOG, -6,
// generation = super generation + 1) holding one ROOT_ITEM
// (TREE_LOG, ROOT_ITEM, subvolume id) per subvolume log; each subvolume
// log holds copies of the fsynced inodes' items. Replay (Replay, run by a
// read-write open) copies them into their subvolumes as the kernel does,
// and the open then commits with log_root cleared. Writing logs is a later
// stage; docs/treelog.md says what is done and what is not.
package treelog
