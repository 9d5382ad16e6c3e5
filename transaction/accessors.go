package transaction

import (
	"errors"
	"fmt"

	"cowfs/alloc"
	"cowfs/disk"
	"cowfs/disk/format"
)

// What the filesystem layer needs beside handles and trees: the chunk map
// for data I/O, the data checksum geometry, and data extents sized to what
// the free space allows.

// ChunkMap is the filesystem's logical-to-physical map (file data is read
// and written through it).
func (fs *FS) ChunkMap() *disk.ChunkMap { return fs.cmap }

// SectorSize is the data sector size: the unit of data extents and of
// data checksums.
func (fs *FS) SectorSize() uint32 { return fs.env.Ctx.SectorSize }

// CsumType is the superblock's checksum algorithm (data and metadata).
func (fs *FS) CsumType() format.CsumType { return fs.env.Ctx.CsumType }

// AllocDataUpTo allocates a data extent of want bytes, or less when the
// free space is fragmented, down to atLeast (both multiples of the sector
// size): the kernel's btrfs_reserve_extent halves a request that finds no
// room the same way. It halves within the existing DATA groups down to
// 1 MiB (or atLeast if larger) first, then adds one DATA chunk and tries
// again from want down to atLeast; without room for a chunk it tries the
// existing groups down to atLeast. It returns the extent's address and
// length; like AllocData, the extent is freed at commit unless a reference
// is added.
func (h *Handle) AllocDataUpTo(want, atLeast uint64) (bytenr, length uint64, err error) {
	if err := h.usable(); err != nil {
		return 0, 0, err
	}
	ss := uint64(h.fs.SectorSize())
	if atLeast == 0 || atLeast > want || want%ss != 0 || atLeast%ss != 0 {
		return 0, 0, fmt.Errorf("allocate a data extent of %d bytes, at least %d: sizes must be sector multiples, 0 < at least <= want",
			want, atLeast)
	}
	a := h.fs.alloc
	b, n, err := allocHalving(a, want, max(atLeast, min(want, 1<<20)), ss)
	if errors.Is(err, alloc.ErrNoSpace) {
		_, cerr := a.NewChunk(format.BlockGroupData)
		if cerr != nil && !errors.Is(cerr, alloc.ErrNoSpace) {
			return 0, 0, cerr
		}
		b, n, err = allocHalving(a, want, atLeast, ss)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("allocate a data extent of %d bytes (at least %d): %w", want, atLeast, err)
	}
	h.t.mu.Lock()
	h.t.mu.fresh[b] = freshExtent{length: n, data: true}
	h.t.mu.Unlock()
	return b, n, nil
}

// allocHalving tries want bytes, then halves (rounded down to the sector
// size) down to floor while no group has room.
func allocHalving(a *alloc.Allocator, want, floor, ss uint64) (uint64, uint64, error) {
	for n := want; ; n = max(floor, n/2/ss*ss) {
		b, err := a.AllocData(n)
		if err == nil || !errors.Is(err, alloc.ErrNoSpace) || n <= floor {
			return b, n, err
		}
	}
}
