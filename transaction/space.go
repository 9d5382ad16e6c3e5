package transaction

import (
	"errors"

	"cowfs/alloc"
	"cowfs/disk/format"
)

// Reserve sizes. The global reserve is the kernel's last resort for the
// commit's own COWs (extent, root and chunk trees); the kernel sizes it from
// those trees, at most 512 MiB. cowfs takes half the metadata in use, at
// least 64 nodes, at most 512 MiB, and fills what fits.
const maxGlobalRsv = 512 << 20

func (fs *FS) setupReserves() {
	a := fs.alloc
	meta := uint64(format.BlockGroupMetadata)
	fs.global = a.NewRsv("global_block_rsv", meta)
	fs.chunkRsv = a.NewRsv("chunk_block_rsv", meta)
	fs.delayedItems = a.NewRsv("delayed_block_rsv", meta)
	fs.delayedRefs = a.NewRsv("delayed_refs_rsv", meta)
	fs.refillGlobal()
}

// refillGlobal tops the global reserve up to its size.
func (fs *FS) refillGlobal() {
	ns := uint64(fs.NodeSize())
	want := min(uint64(maxGlobalRsv), max(64*ns, fs.alloc.Space(format.BlockGroupMetadata).Used/2))
	if _, have := fs.global.Info(); have < want {
		fs.global.Fill(want - have)
	}
}

// takeUnreserved reserves and consumes bytes outside any handle's reserve
// (lenient reservations).
func (fs *FS) takeUnreserved(bytes uint64) error {
	r := fs.alloc.NewRsv("overspend", format.BlockGroupMetadata)
	if err := r.Add(bytes); err != nil {
		return err
	}
	return r.Use(bytes)
}

// allocTree allocates a tree block, adding a chunk when the groups are
// full.
func (fs *FS) allocTree(system bool) (uint64, error) {
	typ := uint64(format.BlockGroupMetadata)
	if system {
		typ = format.BlockGroupSystem
	}
	return fs.withChunk(typ, func() (uint64, error) { return fs.alloc.AllocTree(system) })
}

func (fs *FS) allocData(length uint64) (uint64, error) {
	return fs.withChunk(format.BlockGroupData, func() (uint64, error) { return fs.alloc.AllocData(length) })
}

// withChunk runs try, and once more after adding a chunk of type typ when
// no group had room.
func (fs *FS) withChunk(typ uint64, try func() (uint64, error)) (uint64, error) {
	b, err := try()
	if !errors.Is(err, alloc.ErrNoSpace) {
		return b, err
	}
	if _, cerr := fs.alloc.NewChunk(typ); cerr != nil {
		return 0, cerr
	}
	if typ == format.BlockGroupSystem {
		t := fs.current()
		t.mu.Lock()
		t.mu.sysChunks = true
		t.mu.Unlock()
	}
	return try()
}
