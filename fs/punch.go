package fs

import "cowfs/fs/data"

// Punching a hole in steps. A hole over a large range frees many data
// extents and reserves the deletion of their checksums, so it is punched
// in parts of at most fs.evictChunk extents and fs.evictCsum bytes of
// checksum deletions, a handle each, as the kernel's btrfs_punch_hole
// drops extents in a loop of handles (btrfs_replace_file_extents). Parts
// meet at extent boundaries, which are sector-aligned, so only the ends of
// the whole range rewrite partial sectors. A crash in between leaves the
// hole partly punched, as the kernel's may.

// punchPart is the range one handle punches and the extents it drops.
type punchPart struct {
	off, end uint64
	exts     []data.ExtentCost
}

// punchParts splits [off, end) of ino into parts, ascending (one, maybe
// empty, at least).
func (fs *FS) punchParts(ino, off, end uint64) ([]punchPart, error) {
	if off >= end {
		return []punchPart{{off: off, end: off}}, nil
	}
	exts, err := fs.data.ExtentCosts(ino, alignDown(off, fs.sectorSize), end)
	if err != nil {
		return nil, err
	}
	var parts []punchPart
	cur, start, csum := off, 0, uint64(0)
	for i, e := range exts {
		if !fs.stepFits(i-start+1, csum+e.Csum) {
			parts = append(parts, punchPart{off: cur, end: e.Off, exts: exts[start:i]})
			cur, start, csum = e.Off, i, 0
		}
		csum += e.Csum
	}
	return append(parts, punchPart{off: cur, end: end, exts: exts[start:]}), nil
}

// punch punches [off, off+length) of in (within its size) in parts, a
// handle each. REQUIRES: in.mu, in flushed.
func (fs *FS) punch(in *inode, off, length uint64) error {
	parts, err := fs.punchParts(in.ino, off, min(in.size, off+length))
	if err != nil {
		return err
	}
	for _, p := range parts {
		err := fs.run("fallocate", in.ino, fs.dropItems(p.exts)+1, func(h handle) error {
			return fs.fallocate(h, in, FallocPunchHole|FallocKeepSize, p.off, p.end-p.off)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
