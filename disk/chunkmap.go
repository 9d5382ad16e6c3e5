package disk

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"cowfs/disk/format"
)

// Errors from the chunk map.
var (
	// ErrUnmapped reports a logical range no chunk covers, or one that
	// crosses a chunk's end.
	ErrUnmapped = errors.New("logical range not mapped")
	// ErrBadChunk reports a chunk the map refuses to hold.
	ErrBadChunk = errors.New("bad chunk")
	// ErrProfile reports a chunk profile the map cannot translate.
	ErrProfile = errors.New("unsupported chunk profile")
)

// ChunkMap translates logical addresses to physical ones. It holds
// non-overlapping chunks ordered by logical start, and translates SINGLE and
// DUP chunks on one device: physical = stripe.Offset + (logical − start).
// Readers never block: they load an immutable snapshot; Insert (rare: a
// new chunk) copies it. So a cache can translate addresses while the
// allocator adds chunks.
type ChunkMap struct {
	mu     sync.Mutex                    // serializes Insert
	chunks atomic.Pointer[[]mappedChunk] // by start; never modified in place
}

type mappedChunk struct {
	start uint64
	c     *format.ChunkItem
}

func (m mappedChunk) end() uint64 { return m.start + m.c.Length }

// NewChunkMap returns an empty map.
func NewChunkMap() *ChunkMap { return &ChunkMap{} }

// snapshot returns the current chunks (nil when empty).
func (m *ChunkMap) snapshot() []mappedChunk {
	if p := m.chunks.Load(); p != nil {
		return *p
	}
	return nil
}

// Insert adds the chunk starting at logical. It rejects a zero length, a
// range past 2^64, a chunk without stripes, and overlap with a chunk already
// held.
func (m *ChunkMap) Insert(logical uint64, c *format.ChunkItem) error {
	switch {
	case c.Length == 0:
		return fmt.Errorf("%w at %d: zero length", ErrBadChunk, logical)
	case logical+c.Length < logical:
		return fmt.Errorf("%w at %d: length %d wraps past 2^64", ErrBadChunk, logical, c.Length)
	case c.NumStripes == 0 || len(c.Stripes) == 0:
		return fmt.Errorf("%w at %d: no stripes", ErrBadChunk, logical)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	chunks := m.snapshot()
	i := search(chunks, logical)
	n := mappedChunk{logical, c}
	if i > 0 && chunks[i-1].end() > logical {
		return m.overlap(n, chunks[i-1])
	}
	if i < len(chunks) && chunks[i].start < n.end() {
		return m.overlap(n, chunks[i])
	}
	next := slices.Insert(slices.Clone(chunks), i, n)
	m.chunks.Store(&next)
	return nil
}

func (m *ChunkMap) overlap(n, old mappedChunk) error {
	return fmt.Errorf("%w [%d, %d): overlaps chunk [%d, %d)",
		ErrBadChunk, n.start, n.end(), old.start, old.end())
}

// search returns the index of the first chunk starting after logical.
func search(chunks []mappedChunk, logical uint64) int {
	i, found := slices.BinarySearchFunc(chunks, logical, func(c mappedChunk, l uint64) int {
		return cmpU64(c.start, l)
	})
	if found {
		i++
	}
	return i
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Lookup returns the chunk containing logical and its start.
func (m *ChunkMap) Lookup(logical uint64) (start uint64, c *format.ChunkItem, ok bool) {
	chunks := m.snapshot()
	i := search(chunks, logical)
	if i == 0 || chunks[i-1].end() <= logical {
		return 0, nil, false
	}
	mc := chunks[i-1]
	return mc.start, mc.c, true
}

// Physical returns the physical offset of [logical, logical+length) in the
// first stripe of its chunk. The range must lie within one chunk.
func (m *ChunkMap) Physical(logical uint64, length uint64) (int64, error) {
	start, c, err := m.locate(logical, length)
	if err != nil {
		return 0, err
	}
	return stripeOffset(c, 0, logical-start)
}

// Copies returns the physical offsets of every copy of [logical,
// logical+length): one for SINGLE, two for DUP. Writers write them all.
func (m *ChunkMap) Copies(logical uint64, length uint64) ([]int64, error) {
	start, c, err := m.locate(logical, length)
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(c.Stripes))
	for i := range c.Stripes {
		off, err := stripeOffset(c, i, logical-start)
		if err != nil {
			return nil, err
		}
		out = append(out, off)
	}
	return out, nil
}

// locate finds the chunk holding the whole range and checks its profile.
func (m *ChunkMap) locate(logical, length uint64) (uint64, *format.ChunkItem, error) {
	start, c, ok := m.Lookup(logical)
	if !ok {
		return 0, nil, fmt.Errorf("%w: logical %d: no chunk", ErrUnmapped, logical)
	}
	if end := start + c.Length; logical+length > end || logical+length < logical {
		return 0, nil, fmt.Errorf("%w: logical [%d, +%d) crosses the end %d of chunk %d",
			ErrUnmapped, logical, length, end, start)
	}
	if p := c.Type & format.BlockGroupProfileMask; p != 0 && p != format.BlockGroupDup {
		return 0, nil, fmt.Errorf("%w %#x: chunk %d", ErrProfile, p, start)
	}
	return start, c, nil
}

func stripeOffset(c *format.ChunkItem, i int, delta uint64) (int64, error) {
	off := c.Stripes[i].Offset
	if off > math.MaxInt64-delta {
		return 0, fmt.Errorf("%w: stripe %d offset %d + %d overflows", ErrBadChunk, i, off, delta)
	}
	return int64(off + delta), nil
}

// Chunks iterates over each chunk's start and item, in logical order.
func (m *ChunkMap) Chunks() iter.Seq2[uint64, *format.ChunkItem] {
	return func(yield func(uint64, *format.ChunkItem) bool) {
		for _, mc := range m.snapshot() {
			if !yield(mc.start, mc.c) {
				return
			}
		}
	}
}

// Len is the number of chunks.
func (m *ChunkMap) Len() int { return len(m.snapshot()) }

// ChunkMapFromSuper builds a map from the superblock's sys_chunk_array. Any
// fault there is corruption: the error matches format.ErrCorrupt.
func ChunkMapFromSuper(s *format.Super) (*ChunkMap, error) {
	sys, err := s.SysChunks()
	if err != nil {
		return nil, err
	}
	m := NewChunkMap()
	for i, sc := range sys {
		if sc.Key.Type != format.ChunkItemKey {
			return nil, fmt.Errorf("%w: sys_chunk_array entry %d: key type %d, expect CHUNK_ITEM",
				format.ErrCorrupt, i, sc.Key.Type)
		}
		if err := m.Insert(sc.Key.Offset, sc.Chunk); err != nil {
			return nil, fmt.Errorf("%w: sys_chunk_array entry %d: %w", format.ErrCorrupt, i, err)
		}
	}
	return m, nil
}
