package fsck

import (
	"slices"

	"cowfs/disk/format"
)

// File type bits of an inode's mode.
const (
	modeType = 0o170000
	modeDir  = 0o040000
	modeLink = 0o120000
)

// rootDirIno is the root directory of every subvolume.
const rootDirIno = format.FirstFreeObjectID

// finishInode judges the inode whose items just ended (#61, #63, #64).
func (t *fsTree) finishInode() {
	c := &t.cur
	if c.ino == 0 {
		return
	}
	if !c.has {
		t.add(61, c.at, "inode %d has items but no INODE_ITEM", c.ino)
		return
	}
	ii := &c.inode
	t.inodes = append(t.inodes, inodeBrief{ino: c.ino, mode: ii.Mode})
	if c.names != ii.Nlink {
		t.add(61, c.at, "inode %d has nlink %d, found %d names", c.ino, ii.Nlink, c.names)
	}
	if ii.Nlink == 0 {
		t.nlink0 = append(t.nlink0, c.at)
	}
	if ii.Mode&modeType == modeLink && ii.Flags&(format.InodeImmutable|format.InodeAppend) != 0 {
		t.add(61, c.at, "symlink %d has the IMMUTABLE or APPEND flag (flags 0x%x)", c.ino, ii.Flags)
	}
	if ii.Mode&modeType == modeDir {
		t.checkDir(c)
	} else {
		t.checkFile(c)
	}
}

// checkDir: a directory's size is the sum of its entries' name lengths
// (each name counts twice: DIR_ITEM and DIR_INDEX) and it has no file
// extents (#63).
func (t *fsTree) checkDir(c *inodeState) {
	if c.dirSize != c.inode.Size {
		t.add(63, c.at, "directory %d has size %d, its entries' names sum to %d", c.ino, c.inode.Size, c.dirSize)
	}
	if c.extents > 0 {
		t.add(63, c.extentAt, "directory %d has %d file extents", c.ino, c.extents)
	}
}

// checkFile: no directory entries, nbytes accounts for the extents, and
// without NO_HOLES the extents reach i_size (#64).
func (t *fsTree) checkFile(c *inodeState) {
	if c.entries > 0 {
		t.add(64, c.at, "inode %d is not a directory but has %d directory entries", c.ino, c.entries)
	}
	if c.nbytes != c.inode.Nbytes {
		t.add(64, c.at, "inode %d has nbytes %d, its extents account for %d", c.ino, c.inode.Nbytes, c.nbytes)
	}
	if !t.noHoles && c.end < c.inode.Size {
		t.add(64, c.at, "inode %d: file extents end at %d, before i_size %d (NO_HOLES is off)", c.ino, c.end, c.inode.Size)
	}
}

// orphanItems checks that every inode with nlink 0 has an orphan item
// (#61).
func (t *fsTree) orphanItems() {
	slices.Sort(t.orphans)
	for _, at := range t.nlink0 {
		if _, ok := slices.BinarySearch(t.orphans, at.key.ObjectID); !ok {
			t.add(61, at, "inode %d has nlink 0 and no orphan item", at.key.ObjectID)
		}
	}
}

// rootDir checks the subvolume's root directory (#60): inode 256, a
// directory with nlink 1, whose only name is the INODE_REF ".." (index 0)
// to itself. (No directory entry may point at it: matchNames.)
func (t *fsTree) rootDir() {
	at := itemLoc(t.id, 0, -1, format.Key{ObjectID: rootDirIno, Type: format.InodeItemKey})
	mode, ok := t.mode(rootDirIno)
	switch {
	case !ok:
		t.add(60, at, "root directory %d not found", rootDirIno)
	case mode&modeType != modeDir:
		t.add(60, at, "root inode %d is not a directory (mode 0%o)", rootDirIno, mode)
	case !t.rootRef:
		t.add(60, at, "root directory %d has no INODE_REF \"..\" to itself", rootDirIno)
	}
}

// rootDirID checks that the ROOT_ITEM's root_dirid names the root
// directory (#60): the kernel opens inode 256 whatever it says, btrfs check
// looks for the inode it names.
func (t *fsTree) rootDirID() {
	ri := t.r.x.roots.find(t.id)
	switch {
	case ri == nil || ri.dirid == rootDirIno:
	case !t.has(ri.dirid):
		t.add(60, ri.at, "root %d root dir %d not found (ROOT_ITEM root_dirid, expect %d)", t.id, ri.dirid, rootDirIno)
	default:
		t.add(60, ri.at, "ROOT_ITEM root_dirid %d, expect the root directory %d", ri.dirid, rootDirIno)
	}
}

// has reports whether inode ino has an INODE_ITEM.
func (t *fsTree) has(ino uint64) bool {
	_, ok := t.mode(ino)
	return ok
}

// mode returns the mode of inode ino, if it has an INODE_ITEM.
func (t *fsTree) mode(ino uint64) (uint32, bool) {
	i, ok := slices.BinarySearchFunc(t.inodes, ino, func(b inodeBrief, n uint64) int { return cmpU64(b.ino, n) })
	if !ok {
		return 0, false
	}
	return t.inodes[i].mode, true
}
