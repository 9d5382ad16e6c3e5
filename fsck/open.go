package fsck

import (
	"cmp"
	"errors"
	"fmt"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
)

// Image is a filesystem image opened read-only: its superblock copies, the
// copy in use, and the chunk map built from the sys_chunk_array and the
// chunk tree. It never writes to the device.
type Image struct {
	Dev    disk.Device
	Supers []disk.SuperCopy // every copy that fits the device, primary first
	Super  *format.Super    // the valid copy with the highest generation
	Chunks *disk.ChunkMap
	Ctx    checker.Context // the checker's view of the filesystem

	// chunkFaults are CHUNK_ITEMs of the chunk tree the map refused.
	chunkFaults []chunkFault
}

// chunkFault is a CHUNK_ITEM that could not be added to the chunk map.
type chunkFault struct {
	block uint64
	slot  int
	key   format.Key
	err   error
}

// ErrSysChunkArray reports a sys_chunk_array that cannot be mapped: without
// it no tree can be found.
var ErrSysChunkArray = errors.New("unusable sys_chunk_array")

// Open reads the superblock copies of dev, picks the valid one with the
// highest generation, and builds the chunk map: first from its
// sys_chunk_array, then from the CHUNK_ITEMs of every chunk-tree leaf that
// verifies. A damaged chunk-tree block is not an error here (the walk
// reports it); no valid superblock or an unusable sys_chunk_array is.
func Open(dev disk.Device) (*Image, error) {
	img := &Image{Dev: dev, Supers: checker.ReadSupers(dev)}
	c, err := chooseSuper(img.Supers)
	if err != nil {
		return nil, err
	}
	img.Super = c.Super
	img.Ctx = checker.ContextFromSuper(img.Super)
	img.Ctx.ReadOnly = true
	chunks, err := disk.ChunkMapFromSuper(img.Super)
	if err != nil {
		return nil, fmt.Errorf("%w in superblock at %d: %w", ErrSysChunkArray, img.Super.Bytenr, err)
	}
	img.Chunks = chunks
	img.loadChunkTree()
	return img, nil
}

// chooseSuper picks the superblock copy to use: the one every opener would
// use (checker.ReadSupers judged it intact and within the superblock rules;
// the newest, the primary on a tie). When none is, fsck still checks the
// newest copy that read back intact (magic, checksum, bytenr) and whose
// geometry is usable, and reports the rules it breaks; a copy whose node
// size, sector size or checksum type is unusable is never chosen: nothing
// could be read with it.
func chooseSuper(copies []disk.SuperCopy) (*disk.SuperCopy, error) {
	if c := disk.Newest(copies, func(c *disk.SuperCopy) bool { return c.Err == nil }); c != nil {
		return c, nil
	}
	var geometry error
	c := disk.Newest(copies, func(c *disk.SuperCopy) bool {
		if _, broke := errors.AsType[*checker.Error](c.Err); !broke {
			return false
		}
		err := usableGeometry(c)
		geometry = cmp.Or(geometry, err)
		return err == nil
	})
	switch {
	case c != nil:
		return c, nil
	case geometry != nil:
		return nil, geometry
	}
	return nil, &disk.NoSuperError{Copies: copies}
}

// ErrGeometry reports a superblock whose node size, sector size or checksum
// type makes every tree block unreadable.
var ErrGeometry = errors.New("unusable superblock geometry")

func usableGeometry(c *disk.SuperCopy) error {
	s := c.Super
	pow2 := func(v uint32) bool { return v != 0 && v&(v-1) == 0 }
	if !pow2(s.NodeSize) || s.NodeSize < 4096 || s.NodeSize > 65536 ||
		!pow2(s.SectorSize) || s.SectorSize > s.NodeSize || !s.CsumType.Valid() {
		return fmt.Errorf("%w in superblock at %d: nodesize %d, sectorsize %d, csum_type %d",
			ErrGeometry, c.Offset, s.NodeSize, s.SectorSize, uint16(s.CsumType))
	}
	return nil
}

// loadChunkTree adds the CHUNK_ITEMs of every verified chunk-tree leaf to
// the map. Leaves are visited in key order, so a chunk is known before any
// chunk-tree block it holds is read.
func (img *Image) loadChunkTree() {
	img.Walk(img.ChunkTree(), func(v *Visit) bool {
		if !v.Usable() || format.Header(v.Block).Level() != 0 {
			return true
		}
		l := format.Leaf(v.Block)
		for i := range l.NrItems() {
			img.addChunk(v.Expect.Bytenr, l, i)
		}
		return true
	})
}

// addChunk maps the chunk in slot i of leaf l, unless it is already mapped
// (the SYSTEM chunks come from the sys_chunk_array too).
func (img *Image) addChunk(block uint64, l format.Leaf, i int) {
	k := l.ItemKey(i)
	if k.Type != format.ChunkItemKey {
		return
	}
	fault := chunkFault{block: block, slot: i, key: k}
	data, err := l.ItemDataChecked(i)
	var c *format.ChunkItem
	if err == nil {
		c, err = format.DecodeChunkItem(data)
	}
	if err == nil {
		if start, old, ok := img.Chunks.Lookup(k.Offset); ok && start == k.Offset && old.Length == c.Length {
			return
		}
		err = img.Chunks.Insert(k.Offset, c)
	}
	if err != nil {
		fault.err = err
		img.chunkFaults = append(img.chunkFaults, fault)
	}
}

// NodeSize is the tree block size.
func (img *Image) NodeSize() uint32 { return img.Super.NodeSize }
