package transaction

import (
	"fmt"

	"cowfs/disk"
	"cowfs/disk/format"
)

// writeSuper builds the transaction's superblock from the last committed
// one and writes it: primary durably, then the mirrors, then a flush.
func (fs *FS) writeSuper(t *Transaction) (*format.Super, error) {
	sb := fs.Super()
	sb.Generation = t.transid
	b, l, _ := fs.rootTree.Info()
	sb.Root, sb.RootLevel = b, uint8(l)
	b, l, g := fs.chunkTree.Info()
	sb.ChunkRoot, sb.ChunkRootLevel, sb.ChunkRootGeneration = b, uint8(l), g
	sb.LogRoot, sb.LogRootLevel = 0, 0
	sb.BytesUsed = 0
	for _, g := range fs.alloc.Groups() {
		sb.BytesUsed += g.Used
	}
	sb.DevItem.BytesUsed = fs.alloc.DevBytesUsed()
	t.mu.Lock()
	sys := t.mu.sysChunks
	t.mu.Unlock()
	if sys {
		if err := fs.setSysChunks(&sb); err != nil {
			return nil, err
		}
	}
	fs.fillBackupRoot(&sb)
	if err := disk.WriteSuper(fs.dev, &sb); err != nil {
		return nil, fmt.Errorf("write superblock: %w", err)
	}
	return &sb, nil
}

// setSysChunks rewrites sys_chunk_array with every SYSTEM chunk.
func (fs *FS) setSysChunks(sb *format.Super) error {
	var sys []format.SysChunk
	for start, c := range fs.cmap.Chunks() {
		if c.Type&format.BlockGroupSystem != 0 {
			sys = append(sys, format.SysChunk{Key: format.Key{ObjectID: format.FirstChunkTreeObjectID,
				Type: format.ChunkItemKey, Offset: start}, Chunk: c})
		}
	}
	if err := sb.SetSysChunks(sys); err != nil {
		return fmt.Errorf("sys_chunk_array: %w", err)
	}
	return nil
}

// fillBackupRoot writes the new roots into the next of the four backup
// slots, round robin, as the kernel does at every commit.
func (fs *FS) fillBackupRoot(sb *format.Super) {
	fs.mu.Lock()
	i := fs.mu.backupI
	fs.mu.backupI = (i + 1) % len(sb.SuperRoots)
	fs.mu.Unlock()
	br := &sb.SuperRoots[i]
	*br = format.BackupRoot{TotalBytes: sb.TotalBytes, BytesUsed: sb.BytesUsed, NumDevices: sb.NumDevices}
	br.TreeRoot, br.TreeRootGen, br.TreeRootLevel = sb.Root, sb.Generation, sb.RootLevel
	br.ChunkRoot, br.ChunkRootGen, br.ChunkRootLevel = sb.ChunkRoot, sb.ChunkRootGeneration, sb.ChunkRootLevel
	set := func(id uint64, root, gen *uint64, level *uint8) {
		if t, ok := fs.trees.get(id); ok {
			b, l, g := t.root.Info()
			*root, *gen, *level = b, g, uint8(l)
		}
	}
	set(format.ExtentTreeObjectID, &br.ExtentRoot, &br.ExtentRootGen, &br.ExtentRootLevel)
	set(format.FSTreeObjectID, &br.FSRoot, &br.FSRootGen, &br.FSRootLevel)
	set(format.DevTreeObjectID, &br.DevRoot, &br.DevRootGen, &br.DevRootLevel)
	set(format.CsumTreeObjectID, &br.CsumRoot, &br.CsumRootGen, &br.CsumRootLevel)
}
