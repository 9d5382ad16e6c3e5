package transaction

import (
	"fmt"

	"cowfs/alloc"
	"cowfs/cache"
	"cowfs/checker"
	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
)

// Feature bits cowfs writes correctly. Any other incompat bit refuses the
// open; other compat_ro bits refuse a read-write open.
const (
	incompatWritable = format.IncompatMixedBackref | format.IncompatDefaultSubvol |
		format.IncompatBigMetadata | format.IncompatExtendedIref |
		format.IncompatSkinnyMetadata | format.IncompatNoHoles
	incompatReadable = incompatWritable | format.IncompatCompressLZO | format.IncompatCompressZSTD
	compatRoWritable = format.CompatRoFreeSpaceTree | format.CompatRoFreeSpaceTreeValid
)

// OpenFile opens the image or block device at path (O_DIRECT, read-only
// when opts.ReadOnly) and the filesystem on it; Close closes both.
func OpenFile(path string, opts Options) (*FS, error) {
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: opts.ReadOnly})
	if err != nil {
		return nil, err
	}
	fs, err := Open(dev, opts)
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fs.ownsDev = true
	return fs, nil
}

// Open reads the superblock, chunk tree, root tree and block groups of the
// filesystem on dev and starts its first transaction. Nothing is written
// until a handle changes something.
func Open(dev disk.Device, opts Options) (*FS, error) {
	sb, err := checker.ReadSuper(dev)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := checkFeatures(sb, opts.ReadOnly); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := opts.Validate(sb.NodeSize); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := checkLog(sb, opts); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	fs := newFS(dev, opts)
	fs.mu.super = *sb
	fs.mu.backupI = nextBackupSlot(sb)
	if err := fs.load(sb); err != nil {
		fs.closeTrees()
		if fs.cache != nil {
			fs.cache.Close()
		}
		return nil, fmt.Errorf("open: %w", err)
	}
	fs.mu.cur = newTransaction(sb.Generation + 1)
	if err := fs.replayLog(sb); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	fs.startCommitter()
	return fs, nil
}

// nextBackupSlot is the slot after the one holding the superblock's own
// generation, as the kernel continues the rotation.
func nextBackupSlot(sb *format.Super) int {
	for i, br := range sb.SuperRoots {
		if br.TreeRootGen == sb.Generation {
			return (i + 1) % len(sb.SuperRoots)
		}
	}
	return 0
}

// checkFeatures refuses what cowfs cannot open, in one line.
func checkFeatures(sb *format.Super, ro bool) error {
	if bad := sb.IncompatFlags &^ incompatReadable; bad != 0 {
		return fmt.Errorf("%w: incompat flags %#x (supported %#x)", ErrUnsupported, bad, uint64(incompatReadable))
	}
	if sb.NumDevices != 1 {
		return fmt.Errorf("%w: %d devices (cowfs handles one)", ErrUnsupported, sb.NumDevices)
	}
	if ro {
		return nil
	}
	if bad := sb.IncompatFlags &^ incompatWritable; bad != 0 {
		return fmt.Errorf("%w: incompat flags %#x can only be opened read-only", ErrUnsupported, bad)
	}
	if sb.IncompatFlags&format.IncompatSkinnyMetadata == 0 {
		return fmt.Errorf("%w: no SKINNY_METADATA: open read-only", ErrUnsupported)
	}
	if sb.CompatRoFlags == format.CompatRoFreeSpaceTree {
		return fmt.Errorf("%w: free-space tree not marked valid (compat_ro %#x): the kernel rebuilds it at its next mount; open read-only",
			ErrUnsupported, sb.CompatRoFlags)
	}
	if sb.CompatRoFlags&^compatRoWritable != 0 {
		return fmt.Errorf("%w: compat_ro flags %#x: open read-only", ErrUnsupported, sb.CompatRoFlags)
	}
	return nil
}

// load builds the chunk map, cache, trees and allocator.
func (fs *FS) load(sb *format.Super) error {
	cmap, err := disk.ChunkMapFromSuper(sb)
	if err != nil {
		return err
	}
	fs.cmap = cmap
	ctx := checker.ContextFromSuper(sb)
	fs.opts.Cache.IO = fs.opts.Tree.Policy.WritebackIO()
	fs.opts.Tree.Zoned = disk.IsZoned(fs.dev)
	if fs.cache, err = cache.New(fs.dev, cmap, ctx, fs.opts.Cache); err != nil {
		return err
	}
	fs.cache.SetLastCommitted(sb.Generation)
	fs.env = &ctree.Env{Cache: fs.cache, Ctx: ctx, Options: fs.opts.Tree}
	steps := []func(*format.Super) error{fs.loadChunkTree, fs.loadRootTree, fs.loadAllocator}
	for _, step := range steps {
		if err := step(sb); err != nil {
			return err
		}
	}
	return nil
}

func (fs *FS) loadChunkTree(sb *format.Super) error {
	r, err := ctree.OpenRoot(fs.env, format.ChunkTreeObjectID, sb.ChunkRoot, int(sb.ChunkRootLevel), sb.ChunkRootGeneration)
	if err != nil {
		return fmt.Errorf("chunk tree: %w", err)
	}
	fs.chunkTree = r
	fs.env.ChunkTreeUUID = chunkTreeUUID(fs.cache, sb.ChunkRoot)
	it := r.Scan(format.Key{ObjectID: format.FirstChunkTreeObjectID, Type: format.ChunkItemKey},
		format.Key{ObjectID: format.FirstChunkTreeObjectID + 1})
	for it.Next() {
		item := it.Item()
		c, err := format.DecodeChunkItem(item.Data)
		if err != nil {
			return fmt.Errorf("chunk tree: %v: %w", item.Key, err)
		}
		if s, old, ok := fs.cmap.Lookup(item.Key.Offset); ok && s == item.Key.Offset && old.Length == c.Length {
			continue // a SYSTEM chunk, known from the superblock
		}
		if err := fs.cmap.Insert(item.Key.Offset, c); err != nil {
			return fmt.Errorf("%w: chunk tree: %w", format.ErrCorrupt, err)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("chunk tree: %w", err)
	}
	return nil
}

// chunkTreeUUID reads the chunk_tree_uuid that every new header carries
// from the chunk root's header.
func chunkTreeUUID(c *cache.Cache, bytenr uint64) format.UUID {
	eb := c.Find(bytenr)
	if eb == nil {
		return format.UUID{}
	}
	defer c.Release(eb)
	return eb.Header().ChunkTreeUUID()
}

func (fs *FS) loadRootTree(sb *format.Super) error {
	r, err := ctree.OpenRoot(fs.env, format.RootTreeObjectID, sb.Root, int(sb.RootLevel), sb.Generation)
	if err != nil {
		return fmt.Errorf("root tree: %w", err)
	}
	fs.rootTree = r
	it := r.ScanFrom(format.Key{})
	for it.Next() {
		item := it.Item()
		if item.Key.Type != format.RootItemKey || item.Key.ObjectID == format.TreeLogObjectID {
			continue
		}
		if err := fs.openTree(item); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("root tree: %w", err)
	}
	for _, id := range []uint64{format.ExtentTreeObjectID, format.DevTreeObjectID, format.CsumTreeObjectID, format.FSTreeObjectID} {
		if _, ok := fs.trees.get(id); !ok {
			return fmt.Errorf("%w: root tree has no ROOT_ITEM for required tree %d", format.ErrCorrupt, id)
		}
	}
	return nil
}

func (fs *FS) openTree(item ctree.Item) error {
	ri, err := format.DecodeRootItem(item.Data)
	if err != nil {
		return fmt.Errorf("root tree: %v: %w", item.Key, err)
	}
	id := item.Key.ObjectID
	r, err := ctree.OpenRoot(fs.env, id, ri.Bytenr, int(ri.Level), ri.Generation)
	if err != nil {
		return fmt.Errorf("tree %d: %w", id, err)
	}
	t := &tree{root: r, key: item.Key, item: *ri, legacy: len(item.Data) == format.RootItemLegacySize}
	if !fs.trees.put(id, t) {
		r.Close()
		return fmt.Errorf("%w: root tree: two ROOT_ITEMs for tree %d", format.ErrCorrupt, id)
	}
	return nil
}

// loadAllocator builds the allocator from the block groups, dev extents
// and extent items, and checks the groups' used against their items.
func (fs *FS) loadAllocator(sb *format.Super) error {
	fs.keepFreeSpaceTree = hasValidFreeSpaceTree(sb) && !fs.opts.ReadOnly
	a, err := alloc.New(alloc.Config{NodeSize: sb.NodeSize, SectorSize: sb.SectorSize,
		DevID: sb.DevItem.DevID, DevUUID: sb.DevItem.UUID, DevTotal: sb.DevItem.TotalBytes, Chunks: fs.cmap,
		FreeSpaceTree: fs.keepFreeSpaceTree})
	if err != nil {
		return err
	}
	fs.alloc = a
	used, err := fs.loadBlockGroups()
	if err != nil {
		return err
	}
	if err := fs.loadDevExtents(); err != nil {
		return err
	}
	if err := fs.loadFreeSpace(sb); err != nil {
		return err
	}
	if err := a.VerifyUsed(used); err != nil {
		return fmt.Errorf("%w: %w (run cowfs fsck)", format.ErrCorrupt, err)
	}
	fs.setupReserves()
	return nil
}

// loadFreeSpace takes each group's free space from the free-space tree
// when it is valid, else from the extent items (open_free_space.go).
func (fs *FS) loadFreeSpace(sb *format.Super) error {
	if fs.useFreeSpaceTree(sb) {
		fs.freeSource = FreeSpaceFromTree
		return fs.loadFreeSpaceTree()
	}
	fs.freeSource = FreeSpaceFromExtents
	return fs.loadExtents()
}

// scanType calls fn for every item of type typ in tree r.
func scanType(r *ctree.Root, typ uint8, fn func(ctree.Item) error) error {
	it := r.ScanFrom(format.Key{})
	for it.Next() {
		if item := it.Item(); item.Key.Type == typ {
			if err := fn(item); err != nil {
				return err
			}
		}
	}
	return it.Err()
}

func (fs *FS) loadBlockGroups() (map[uint64]uint64, error) {
	extent, _ := fs.trees.get(format.ExtentTreeObjectID)
	used := map[uint64]uint64{}
	err := scanType(extent.root, format.BlockGroupItemKey, func(item ctree.Item) error {
		bg, err := format.DecodeBlockGroupItem(item.Data)
		if err != nil {
			return fmt.Errorf("extent tree: %v: %w", item.Key, err)
		}
		if _, err := fs.alloc.AddBlockGroup(item.Key.ObjectID, item.Key.Offset, bg.Flags); err != nil {
			return fmt.Errorf("%w: extent tree: %v: %w", format.ErrCorrupt, item.Key, err)
		}
		used[item.Key.ObjectID] = bg.Used
		return nil
	})
	if err != nil {
		return nil, err
	}
	for start, c := range fs.cmap.Chunks() {
		if _, ok := used[start]; !ok {
			return nil, fmt.Errorf("%w: chunk %d (len %d) has no BLOCK_GROUP_ITEM", format.ErrCorrupt, start, c.Length)
		}
	}
	return used, nil
}

func (fs *FS) loadDevExtents() error {
	dev, _ := fs.trees.get(format.DevTreeObjectID)
	return scanType(dev.root, format.DevExtentKey, func(item ctree.Item) error {
		de, err := format.DecodeDevExtent(item.Data)
		if err != nil {
			return fmt.Errorf("dev tree: %v: %w", item.Key, err)
		}
		fs.alloc.AddDevExtent(item.Key.Offset, de.Length)
		return nil
	})
}

func (fs *FS) loadExtents() error {
	extent, _ := fs.trees.get(format.ExtentTreeObjectID)
	ns := uint64(fs.NodeSize())
	it := extent.root.ScanFrom(format.Key{})
	for it.Next() {
		k := it.Item().Key
		var length uint64
		switch k.Type {
		case format.ExtentItemKey:
			length = k.Offset
		case format.MetadataItemKey:
			length = ns
		default:
			continue
		}
		if err := fs.alloc.MarkUsed(k.ObjectID, length); err != nil {
			return fmt.Errorf("%w: extent tree: %v: %w", format.ErrCorrupt, k, err)
		}
	}
	return it.Err()
}

// closeTrees releases every open root.
func (fs *FS) closeTrees() {
	for _, t := range fs.trees.sorted() {
		t.root.Close()
	}
	for _, r := range []*ctree.Root{fs.rootTree, fs.chunkTree} {
		if r != nil {
			r.Close()
		}
	}
}
