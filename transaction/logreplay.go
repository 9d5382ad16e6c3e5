package transaction

import (
	"errors"
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// ErrLogReplay marks an open refused because the image holds a log tree
// that this open cannot replay.
var ErrLogReplay = errors.New("log replay required")

// checkLog refuses what cannot be done with a pending log tree: a
// read-only open replays nothing (unless told to ignore the log, the
// kernel's rescue=nologreplay), and a read-write open needs a replayer.
func checkLog(sb *format.Super, opts Options) error {
	switch {
	case sb.LogRoot == 0:
		return nil
	case opts.ReadOnly && !opts.NoLogReplay:
		return fmt.Errorf("%w on RO media: a log tree is pending (log_root %d): open read-write to replay it, or read-only with no-log-replay to see the last commit",
			ErrLogReplay, sb.LogRoot)
	case !opts.ReadOnly && opts.ReplayLog == nil:
		return fmt.Errorf("%w: a log tree is pending (log_root %d) and this open has no replayer", ErrLogReplay, sb.LogRoot)
	}
	return nil
}

// replayLog runs the replayer on a read-write open of an image holding a
// log, then commits: the commit writes log_root 0, and the log's blocks,
// pinned by the replayer, are free once it is durable. On an error
// nothing is committed and the filesystem is closed.
func (fs *FS) replayLog(sb *format.Super) error {
	if sb.LogRoot == 0 || fs.opts.ReadOnly {
		return nil
	}
	err := fs.opts.ReplayLog(fs)
	if err == nil {
		err = fs.Commit()
	}
	if err != nil {
		fs.discard(err)
		return fmt.Errorf("log replay: %w", err)
	}
	return nil
}

// discard closes a filesystem whose running transaction must not be
// committed; the device is left to the caller.
func (fs *FS) discard(err error) {
	fs.mu.Lock()
	if fs.mu.abort == nil {
		fs.mu.abort = err
	}
	fs.mu.Unlock()
	fs.closeTrees()
	fs.cache.Close() // dirty blocks of the discarded transaction are dropped
}

// PinLogBlock keeps a log tree block from reuse until the replay's commit
// is durable (its space is free in the allocator, since log blocks are not
// in the extent tree).
func (fs *FS) PinLogBlock(bytenr uint64) error {
	return fs.alloc.PinFree(bytenr, uint64(fs.NodeSize()))
}

// AdoptLoggedData takes a data extent that a log's file extents point to,
// and that the extent tree does not hold, as if this transaction had
// allocated it: a reference added with AddDataRef inserts its extent item,
// as the kernel's btrfs_alloc_logged_file_extent.
func (h *Handle) AdoptLoggedData(bytenr, length uint64) error {
	if err := h.fs.alloc.ReserveFree(bytenr, length); err != nil {
		return fmt.Errorf("logged data extent [%d, +%d): %w", bytenr, length, err)
	}
	h.t.mu.Lock()
	h.t.mu.fresh[bytenr] = freshExtent{length: length, data: true}
	h.t.mu.Unlock()
	return nil
}

// LookupCsumsIn returns the checksums of [start, +length) from root, a
// checksum tree or a log tree holding EXTENT_CSUM items; a gap is a
// *CsumMissingError (ErrNoCsum).
func (fs *FS) LookupCsumsIn(root *ctree.Root, start, length uint64) ([]byte, error) {
	return lookupCsums(root, fs.csumGeometry(), start, length)
}
