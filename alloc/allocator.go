package alloc

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"

	"cowfs/disk"
	"cowfs/disk/format"
)

// ErrNoSpace reports that no block group of the wanted type has room (the
// caller may add a chunk and retry) or that the device cannot hold another
// chunk. It matches syscall.ENOSPC.
var ErrNoSpace = fmt.Errorf("no space left: %w", syscall.ENOSPC)

// ErrAccounting reports an impossible space transition (a double free, an
// extent outside every block group, a counter underflow): a bug or a
// corrupt extent tree.
var ErrAccounting = errors.New("space accounting")

// Config describes the filesystem the allocator serves.
type Config struct {
	NodeSize, SectorSize uint32
	// DevID, DevUUID and DevTotal describe the single device: new chunks
	// get stripes on it, within DevTotal bytes.
	DevID    uint64
	DevUUID  format.UUID
	DevTotal uint64
	// Chunks is the filesystem's chunk map; new chunks are inserted into it
	// so that the cache can read and write their blocks at once.
	Chunks *disk.ChunkMap
	// FreeSpaceTree keeps, per group, the free space as the free-space
	// tree must list it (free_space_tree.go).
	FreeSpaceTree bool
}

// Allocator hands out tree blocks and data extents from block groups,
// keeps freed extents pinned until their transaction is durable, creates
// chunks when the groups fill, and accounts reservations (rsv.go). All
// methods are safe for concurrent use.
type Allocator struct {
	cfg Config
	// chunkMu serializes NewChunk (placing a chunk, then inserting it).
	chunkMu sync.Mutex

	mu struct {
		sync.Mutex
		groups  []*BlockGroup // by Start
		pinned  []Range       // freed by the running transaction
		devUsed []Range       // physical ranges held by dev extents, by Start
		cursor  map[uint64]uint64
		mayUse  map[uint64]uint64 // by type: bytes held by block reserves
		rsvs    []*BlockRsv
		stats   Stats
	}
}

// New returns an allocator with no block groups; Open adds them
// (AddBlockGroup, AddDevExtent, MarkUsed).
func New(cfg Config) (*Allocator, error) {
	switch {
	case !powerOf2(cfg.SectorSize) || !powerOf2(cfg.NodeSize) || cfg.NodeSize < cfg.SectorSize ||
		cfg.NodeSize > format.StripeLen:
		// Tree blocks are nodesize-aligned inside 64 KiB stripes: btrfs's
		// rules (power of two, sectorsize ≤ nodesize ≤ 64 KiB) make both
		// possible at once.
		return nil, fmt.Errorf("alloc: nodesize %d, sectorsize %d", cfg.NodeSize, cfg.SectorSize)
	case cfg.Chunks == nil:
		return nil, errors.New("alloc: no chunk map")
	}
	a := &Allocator{cfg: cfg}
	a.mu.cursor = map[uint64]uint64{}
	a.mu.mayUse = map[uint64]uint64{}
	return a, nil
}

// NodeSize is the tree block size.
func (a *Allocator) NodeSize() uint64 { return uint64(a.cfg.NodeSize) }

// AddBlockGroup adds a block group read from its BLOCK_GROUP_ITEM; its
// chunk must be in the chunk map. All its space starts free except the
// superblock stripes; MarkUsed then removes the extents found in the
// extent tree, and VerifyUsed compares the result with the item's used.
func (a *Allocator) AddBlockGroup(start, length, flags uint64) (*BlockGroup, error) {
	g, err := a.newBlockGroup(start, length, flags)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.insertGroupLocked(g); err != nil {
		return nil, err
	}
	return g, nil
}

// newBlockGroup builds the group of the chunk at start, all free but its
// superblock stripes; it is not in a.mu.groups yet.
func (a *Allocator) newBlockGroup(start, length, flags uint64) (*BlockGroup, error) {
	cstart, chunk, ok := a.cfg.Chunks.Lookup(start)
	if !ok || cstart != start || chunk.Length != length {
		return nil, fmt.Errorf("%w: block group %d len %d has no chunk of the same range", ErrAccounting, start, length)
	}
	if chunk.Type != flags {
		return nil, fmt.Errorf("%w: block group %d flags %#x, its chunk's type %#x", ErrAccounting, start, flags, chunk.Type)
	}
	g := &BlockGroup{Start: start, Length: length, Flags: flags, Chunk: chunk, free: newFreeSpace()}
	if err := g.free.add(Range{start, length}); err != nil {
		return nil, err
	}
	if a.cfg.FreeSpaceTree {
		g.listed = newFreeSpace()
		_ = g.listed.add(Range{start, length}) // empty set
	}
	for _, r := range a.superStripes(g) {
		if err := g.free.remove(r); err != nil {
			return nil, fmt.Errorf("%w: %v: super stripe %v: %w", ErrAccounting, g, r, err)
		}
		g.Super += r.Len
	}
	return g, nil
}

// insertGroupLocked adds g to the groups unless it overlaps one.
// REQUIRES: a.mu.
func (a *Allocator) insertGroupLocked(g *BlockGroup) error {
	i, found := slices.BinarySearchFunc(a.mu.groups, g.Start, func(x *BlockGroup, s uint64) int { return cmpU64(x.Start, s) })
	if found || (i > 0 && a.mu.groups[i-1].End() > g.Start) || (i < len(a.mu.groups) && a.mu.groups[i].Start < g.End()) {
		return fmt.Errorf("%w: %v overlaps another block group", ErrAccounting, g)
	}
	a.mu.groups = slices.Insert(a.mu.groups, i, g)
	return nil
}

// superStripes returns the logical ranges of g that hold a superblock copy:
// the 64 KiB stripe around each copy inside the device, as btrfs excludes
// them from every block group.
func (a *Allocator) superStripes(g *BlockGroup) []Range {
	var out []Range
	for i := range format.SuperMirrorMax {
		off := uint64(format.MirrorOffset(i))
		if off+format.SuperSize > a.cfg.DevTotal {
			break
		}
		p := Range{off / format.StripeLen * format.StripeLen, format.StripeLen}
		for _, s := range g.Chunk.Stripes {
			lo, hi := max(p.Start, s.Offset), min(p.End(), s.Offset+g.Length)
			if lo < hi {
				out = append(out, Range{g.Start + lo - s.Offset, hi - lo})
			}
		}
	}
	slices.SortFunc(out, func(x, y Range) int { return cmpU64(x.Start, y.Start) })
	return out
}

// AddDevExtent records that physical range [offset, offset+length) of the
// device belongs to a chunk, so that new chunks go elsewhere.
func (a *Allocator) AddDevExtent(offset, length uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addDevUsedLocked(Range{offset, length})
}

func (a *Allocator) addDevUsedLocked(r Range) {
	i, _ := slices.BinarySearchFunc(a.mu.devUsed, r.Start, func(x Range, s uint64) int { return cmpU64(x.Start, s) })
	a.mu.devUsed = slices.Insert(a.mu.devUsed, i, r)
}

// DevBytesUsed is Σ dev extent lengths: the DEV_ITEM's bytes_used.
func (a *Allocator) DevBytesUsed() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.devBytesUsedLocked()
}

// devBytesUsedLocked is DevBytesUsed. REQUIRES: a.mu.
func (a *Allocator) devBytesUsedLocked() uint64 {
	var n uint64
	for _, r := range a.mu.devUsed {
		n += r.Len
	}
	return n
}

// MarkUsed records an extent found in the extent tree at open.
func (a *Allocator) MarkUsed(start, length uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, err := a.groupLocked(Range{start, length})
	if err != nil {
		return err
	}
	if err := g.free.remove(Range{start, length}); err != nil {
		return fmt.Errorf("%w: extent item %v in %v: %w", ErrAccounting, Range{start, length}, g, err)
	}
	g.Used += length
	if err := g.unlist(Range{start, length}); err != nil {
		return fmt.Errorf("%w: extent item %v in %v: %w", ErrAccounting, Range{start, length}, g, err)
	}
	g.listedDirty = false // as read: nothing to write
	return nil
}

// groupLocked returns the block group holding all of r. REQUIRES: a.mu.
func (a *Allocator) groupLocked(r Range) (*BlockGroup, error) {
	i, found := slices.BinarySearchFunc(a.mu.groups, r.Start, func(g *BlockGroup, s uint64) int { return cmpU64(g.Start, s) })
	if !found {
		i--
	}
	if i < 0 || !a.mu.groups[i].contains(r) {
		return nil, fmt.Errorf("%w: extent %v is not inside one block group", ErrAccounting, r)
	}
	return a.mu.groups[i], nil
}

// VerifyUsed compares every group's Used (from the extent items) with the
// used recorded in its BLOCK_GROUP_ITEM, given by usedOf.
func (a *Allocator) VerifyUsed(usedOf map[uint64]uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, g := range a.mu.groups {
		if g.Used != usedOf[g.Start] {
			return fmt.Errorf("%w: %v: BLOCK_GROUP_ITEM used %d, extent items sum to %d",
				ErrAccounting, g, usedOf[g.Start], g.Used)
		}
	}
	return nil
}

// Groups returns a snapshot of every block group's counters, by start.
func (a *Allocator) Groups() []GroupInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]GroupInfo, 0, len(a.mu.groups))
	for _, g := range a.mu.groups {
		out = append(out, g.info())
	}
	return out
}

// Check verifies every group's accounting identity (free + used + reserved
// + pinned + super = length); tests call it after each commit.
func (a *Allocator) Check() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, g := range a.mu.groups {
		if err := g.check(); err != nil {
			return fmt.Errorf("%w: %w", ErrAccounting, err)
		}
	}
	return nil
}

func powerOf2(v uint32) bool { return v != 0 && v&(v-1) == 0 }

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
