package mkfs

import "cowfs/disk/format"

// superblock builds the superblock that makes the trees a filesystem. The
// checksum and per-copy bytenr are set by disk.WriteSuper.
func (p *plan) superblock() (*format.Super, error) {
	root, chunk := p.tree(format.RootTreeObjectID), p.tree(format.ChunkTreeObjectID)
	s := &format.Super{
		Fsid: p.o.Fsid, Flags: format.SuperFlagWritten, Magic: format.Magic,
		Generation: generation, Root: root.Bytenr, ChunkRoot: chunk.Bytenr,
		TotalBytes: p.size, BytesUsed: p.bytesUsed(),
		RootDirObjectID: format.RootTreeDirObjectID, NumDevices: 1,
		SectorSize: p.o.SectorSize, NodeSize: p.o.NodeSize, LeafSize: p.o.NodeSize,
		StripeSize: p.o.SectorSize, ChunkRootGeneration: generation,
		IncompatFlags: format.IncompatDefault, CsumType: p.o.Csum,
		DevItem:         *p.devItem(),
		CacheGeneration: ^uint64(0), // no v1 space cache
		// The UUID tree is complete: no rescan on mount.
		UUIDTreeGeneration: generation,
	}
	if !p.o.NoFreeSpaceTree {
		s.CompatRoFlags = format.CompatRoFreeSpaceTree | format.CompatRoFreeSpaceTreeValid
		// As mkfs.btrfs with the tree: 0, so that the kernel has no v1
		// cache to clear at its first read-write mount.
		s.CacheGeneration = 0
	}
	copy(s.Label[:], p.o.Label)
	s.SuperRoots[0] = p.backupRoot()
	var sys []format.SysChunk
	for _, c := range p.chunks {
		if c.Type&format.BlockGroupSystem != 0 {
			sys = append(sys, format.SysChunk{Key: chunkKey(c), Chunk: p.chunkItem(c)})
		}
	}
	if err := s.SetSysChunks(sys); err != nil {
		return nil, err
	}
	return s, nil
}

// backupRoot fills backup slot 0 with the trees of this generation.
func (p *plan) backupRoot() format.BackupRoot {
	at := func(id uint64) uint64 { return p.tree(id).Bytenr }
	return format.BackupRoot{
		TreeRoot: at(format.RootTreeObjectID), TreeRootGen: generation,
		ChunkRoot: at(format.ChunkTreeObjectID), ChunkRootGen: generation,
		ExtentRoot: at(format.ExtentTreeObjectID), ExtentRootGen: generation,
		FSRoot: at(format.FSTreeObjectID), FSRootGen: generation,
		DevRoot: at(format.DevTreeObjectID), DevRootGen: generation,
		CsumRoot: at(format.CsumTreeObjectID), CsumRootGen: generation,
		TotalBytes: p.size, BytesUsed: p.bytesUsed(), NumDevices: 1,
	}
}
