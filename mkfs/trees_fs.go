package mkfs

import "cowfs/disk/format"

// This file builds the root tree (1) and the subvolume-shaped trees: fs (5),
// data-reloc (-9), csum (7, empty) and UUID (9).

const (
	rootDirIno = format.FirstFreeObjectID // 256: root directory of a subvolume
	modeDir    = 0o040755
	defaultDir = "default"
)

// now is Options.Now as a btrfs timestamp.
func (p *plan) now() format.Timespec {
	return format.Timespec{Sec: uint64(p.o.Now.Unix()), Nsec: uint32(p.o.Now.Nanosecond())}
}

// dirInode is the INODE_ITEM of an empty directory created by mkfs.
func (p *plan) dirInode() *format.InodeItem {
	ts := p.now()
	return &format.InodeItem{
		Generation: generation, Transid: generation, Nlink: 1, Mode: modeDir,
		Atime: ts, Ctime: ts, Mtime: ts, Otime: ts,
	}
}

// rootItem points at tree t's leaf. The embedded inode follows mkfs.btrfs
// (gen 1, size 3, nbytes = nodesize, a directory); subvolumes get root_dirid
// 256, and the fs tree its uuid and times.
func (p *plan) rootItem(t Tree) *format.RootItem {
	ri := &format.RootItem{
		Inode:      format.InodeItem{Generation: 1, Size: 3, Nbytes: uint64(p.o.NodeSize), Nlink: 1, Mode: modeDir},
		Generation: generation, GenerationV2: generation, Bytenr: t.Bytenr,
		BytesUsed: uint64(p.o.NodeSize), Refs: 1,
	}
	if t.ObjectID == format.FSTreeObjectID || t.ObjectID == format.DataRelocTreeObjectID {
		ri.RootDirID = rootDirIno
	}
	if t.ObjectID == format.FSTreeObjectID {
		ri.UUID = p.o.FSTreeUUID
		ri.Ctransid, ri.Otransid = generation, generation
		ri.Ctime, ri.Otime = p.now(), p.now()
	}
	return ri
}

// rootTreeItems: a ROOT_ITEM for every tree but the root and chunk trees,
// and the ROOT_TREE_DIR (6) directory whose "default" entry names the fs
// tree, with the fs tree's back-reference (5 INODE_REF 6), as mkfs.btrfs.
func (p *plan) rootTreeItems() []item {
	var items []item
	for _, t := range p.trees {
		if t.ObjectID != format.RootTreeObjectID && t.ObjectID != format.ChunkTreeObjectID {
			items = append(items, newItem(t.ObjectID, format.RootItemKey, 0, p.rootItem(t)))
		}
	}
	dir := format.RootTreeDirObjectID
	name := []byte(defaultDir)
	entry := format.DirEntry{
		Location: format.Key{ObjectID: format.FSTreeObjectID, Type: format.RootItemKey, Offset: ^uint64(0)},
		Transid:  generation, Type: format.FtDir, Name: name,
	}
	return append(items,
		newItem(dir, format.InodeItemKey, 0, p.dirInode()),
		newItem(dir, format.InodeRefKey, dir, format.InodeRefItem{{Index: 0, Name: []byte("..")}}),
		newItem(dir, format.DirItemKey, format.NameHash(name), format.DirItem{entry}),
		newItem(format.FSTreeObjectID, format.InodeRefKey, dir, format.InodeRefItem{{Index: 0, Name: name}}),
	)
}

// subvolRootItems: the root directory of an empty subvolume (fs tree and
// data-reloc tree): inode 256, nlink 1, and its INODE_REF ".." to itself
// with index 0.
func (p *plan) subvolRootItems() []item {
	return []item{
		newItem(rootDirIno, format.InodeItemKey, 0, p.dirInode()),
		newItem(rootDirIno, format.InodeRefKey, rootDirIno, format.InodeRefItem{{Index: 0, Name: []byte("..")}}),
	}
}

// uuidTreeItems: the fs tree's uuid maps to subvolume 5.
func (p *plan) uuidTreeItems() []item {
	k := format.UUIDKey(p.o.FSTreeUUID, format.UUIDKeySubvol)
	return []item{{k, format.UUIDItem{format.FSTreeObjectID}.Encode()}}
}

// treeItems returns the items of tree id. The csum tree is an empty leaf.
func (p *plan) treeItems(id uint64) []item {
	switch id {
	case format.ChunkTreeObjectID:
		return p.chunkTreeItems()
	case format.RootTreeObjectID:
		return p.rootTreeItems()
	case format.ExtentTreeObjectID:
		return p.extentTreeItems()
	case format.FreeSpaceTreeObjectID:
		return p.freeSpaceTreeItems()
	case format.DevTreeObjectID:
		return p.devTreeItems()
	case format.FSTreeObjectID, format.DataRelocTreeObjectID:
		return p.subvolRootItems()
	case format.UUIDTreeObjectID:
		return p.uuidTreeItems()
	}
	return nil
}
