package mkfs

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"cowfs/disk/format"
)

const (
	mib = 1 << 20

	// generation is the transaction id of everything mkfs writes: the
	// superblock, every header, item and root generation.
	generation = 1

	sysChunkStart  = format.ReservedBytes // 1 MiB: the first MiB is reserved
	sysChunkLen    = 4 * mib
	metaChunkStart = sysChunkStart + sysChunkLen // 5 MiB

	// Metadata and data chunks get a tenth of the filesystem each, rounded
	// down to a MiB and clamped to these bounds (the kernel sizes its own
	// chunks the same way: 10% of the filesystem, at most 256 MiB of
	// metadata and 1 GiB of data per chunk). The rest of the device stays
	// unallocated for the kernel (or cowfs) to turn into chunks later.
	minMetaLen     = 8 * mib
	metaChunkNodes = 512
	maxMetaLen     = 256 * mib
	minDataLen     = 8 * mib
	maxDataLen     = 1024 * mib
	chunkAlign     = mib
)

// MinSize is the smallest filesystem Make accepts for a node size with a
// free-space tree (the default): MinSizeNoTree and 128 nodes of
// unallocated space, rounded up to a MiB — 22 MiB for node sizes up to
// 8 KiB, 23 MiB for 16 KiB, 33 MiB for 32 KiB, 53 MiB for 64 KiB. With the
// tree the kernel reserves more metadata per change (it updates that tree
// too) and needs unallocated space to overcommit against: at
// MinSizeNoTree its first mkdir fails with ENOSPC for 16 KiB nodes and
// more; it needed 2, 3 and 6 MiB for 16, 32 and 64 KiB nodes (experiment
// in doc.go), and 128 nodes give each a margin.
func MinSize(nodesize uint32) int64 {
	slack := (128*int64(nodesize) + chunkAlign - 1) / chunkAlign * chunkAlign
	return MinSizeNoTree(nodesize) + slack
}

// MinSizeNoTree is the smallest filesystem without a free-space tree: the
// reserved first MiB, the 4 MiB SYSTEM chunk and the smallest METADATA and
// DATA chunks, with nothing left unallocated. That is 21 MiB for node sizes
// up to 16 KiB, 29 MiB for 32 KiB and 45 MiB for 64 KiB. At these sizes
// btrfs check accepts the image and the kernel mounts it, writes files and
// directories into it and leaves it clean (see doc.go).
func MinSizeNoTree(nodesize uint32) int64 {
	return int64(metaChunkStart + minMetaChunk(nodesize) + minDataLen)
}

// minSize is MinSize or MinSizeNoTree, as o asks for a tree or not.
func (o Options) minSize() int64 {
	if o.NoFreeSpaceTree {
		return MinSizeNoTree(o.NodeSize)
	}
	return MinSize(o.NodeSize)
}

// minMetaChunk is the smallest METADATA chunk for a node size: 8 MiB, or
// 512 nodes when that is more. The kernel reserves 16 nodes of metadata
// per item it may insert (every level of a path, twice), so its reserves
// grow with the node size: with 32 KiB and 64 KiB nodes an 8 MiB chunk and
// no unallocated space fails the first mkdir with ENOSPC; 448 nodes was the
// smallest that passed (experiment in doc.go), 512 keeps a margin.
func minMetaChunk(nodesize uint32) uint64 {
	return max(minMetaLen, metaChunkNodes*uint64(nodesize))
}

// treeOrder lists the trees in the order of their blocks: the chunk tree in
// the SYSTEM chunk, the rest packed from the start of the METADATA chunk;
// the free-space tree (10), unless left out, comes last.
var treeOrder = []uint64{
	format.ChunkTreeObjectID,
	format.RootTreeObjectID,
	format.ExtentTreeObjectID,
	format.DevTreeObjectID,
	format.FSTreeObjectID,
	format.CsumTreeObjectID,
	format.UUIDTreeObjectID,
	format.DataRelocTreeObjectID,
}

// plan is one mkfs run: resolved options, chunks and tree addresses.
type plan struct {
	o      Options // Size, UUIDs and Now resolved
	size   uint64  // filesystem size, sector-aligned
	chunks []Chunk // SYSTEM, METADATA, DATA
	trees  []Tree  // treeOrder, with addresses
}

// newPlan resolves the options for a device of devSize bytes (already
// validated) and lays out chunks and tree blocks.
func newPlan(o Options, devSize int64) (*plan, error) {
	o, err := resolve(o, devSize)
	if err != nil {
		return nil, err
	}
	p := &plan{o: o, size: uint64(o.Size)}
	p.chunks = chunkLayout(p.size, o.NodeSize)
	p.trees = p.treeLayout()
	if err := p.checkLayout(); err != nil {
		return nil, err
	}
	return p, nil
}

// resolve fills the defaults that depend on the device or on chance.
func resolve(o Options, devSize int64) (Options, error) {
	if o.Size == 0 {
		o.Size = devSize
	}
	o.Size -= o.Size % int64(o.SectorSize)
	for _, u := range []*format.UUID{&o.Fsid, &o.ChunkUUID, &o.DevUUID, &o.FSTreeUUID} {
		if u.IsZero() {
			v, err := randomUUID()
			if err != nil {
				return o, err
			}
			*u = v
		}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return o, nil
}

// randomUUID returns a version-4 (random) UUID.
func randomUUID() (format.UUID, error) {
	var u format.UUID
	if _, err := rand.Read(u[:]); err != nil {
		return u, fmt.Errorf("mkfs: random uuid: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u, nil
}

// chunkLayout places SYSTEM at 1 MiB, METADATA right after it and DATA
// after that, all identity-mapped.
func chunkLayout(size uint64, nodesize uint32) []Chunk {
	tenth := size / 10 / chunkAlign * chunkAlign
	meta := min(max(tenth, minMetaChunk(nodesize)), maxMetaLen)
	data := min(max(tenth, minDataLen), maxDataLen)
	sys := Chunk{Type: format.BlockGroupSystem, Logical: sysChunkStart, Length: sysChunkLen}
	md := Chunk{Type: format.BlockGroupMetadata, Logical: sys.End(), Length: meta}
	dt := Chunk{Type: format.BlockGroupData, Logical: md.End(), Length: data}
	out := []Chunk{sys, md, dt}
	for i := range out {
		out[i].Physical = out[i].Logical
	}
	return out
}

// treeLayout gives every tree its leaf address and counts each leaf in its
// block group's used bytes.
func (p *plan) treeLayout() []Tree {
	ns := uint64(p.o.NodeSize)
	next := map[uint64]uint64{} // block-group flags -> next free address
	for _, c := range p.chunks {
		next[c.Type] = c.Logical
	}
	order := treeOrder
	if !p.o.NoFreeSpaceTree {
		order = append(slices.Clone(order), format.FreeSpaceTreeObjectID)
	}
	var trees []Tree
	for _, id := range order {
		typ := format.BlockGroupMetadata
		if id == format.ChunkTreeObjectID {
			typ = format.BlockGroupSystem
		}
		trees = append(trees, Tree{ObjectID: id, Name: format.TreeName(id), Bytenr: next[typ]})
		next[typ] += ns
		p.chunkOf(typ).Used += ns
	}
	return trees
}

// chunkOf returns the chunk of the given type.
func (p *plan) chunkOf(typ uint64) *Chunk {
	for i := range p.chunks {
		if p.chunks[i].Type == typ {
			return &p.chunks[i]
		}
	}
	panic(fmt.Sprintf("mkfs: no %s chunk", BlockGroupTypeName(typ)))
}

// tree returns the planned tree with the given objectid.
func (p *plan) tree(id uint64) Tree {
	for _, t := range p.trees {
		if t.ObjectID == id {
			return t
		}
	}
	panic(fmt.Sprintf("mkfs: tree %d not planned", id))
}

// bytesUsed is Σ block-group used.
func (p *plan) bytesUsed() uint64 {
	var n uint64
	for _, c := range p.chunks {
		n += c.Used
	}
	return n
}

// checkLayout asserts what the layout promises: chunks inside the
// filesystem and 64 KiB aligned; every tree block inside its chunk, off the
// superblock copies and not crossing a 64 KiB stripe boundary.
func (p *plan) checkLayout() error {
	for _, c := range p.chunks {
		if c.End() > p.size || c.Logical%format.StripeLen != 0 || c.Length%format.StripeLen != 0 {
			return fmt.Errorf("mkfs: %s chunk [%d, %d) does not fit a %d-byte filesystem",
				c.TypeName(), c.Logical, c.End(), p.size)
		}
	}
	ns := uint64(p.o.NodeSize)
	for _, t := range p.trees {
		if err := p.checkBlock(t, ns); err != nil {
			return err
		}
	}
	return nil
}

func (p *plan) checkBlock(t Tree, ns uint64) error {
	want := p.chunkOf(format.BlockGroupMetadata)
	if t.ObjectID == format.ChunkTreeObjectID {
		want = p.chunkOf(format.BlockGroupSystem)
	}
	if !want.Contains(t.Bytenr, ns) || (t.Bytenr-want.Logical)/format.StripeLen != (t.Bytenr+ns-1-want.Logical)/format.StripeLen {
		return fmt.Errorf("mkfs: %s block %d misplaced", t.Name, t.Bytenr)
	}
	for i := range format.SuperMirrorMax {
		m := uint64(format.MirrorOffset(i))
		if t.Bytenr < m+format.SuperSize && m < t.Bytenr+ns {
			return fmt.Errorf("mkfs: %s block %d overlaps superblock copy at %d", t.Name, t.Bytenr, m)
		}
	}
	return nil
}
