package tests

// Keys and item payloads of the transaction workload, as the kernel writes
// them (btrfs-format.md §1.3, §2.5, §2.7; subvolume items checked against
// a kernel-made subvolume, see createSubvol).

import (
	"cowfs/disk/format"
)

func inodeKey(ino uint64) format.Key {
	return format.Key{ObjectID: ino, Type: format.InodeItemKey}
}

func inodeRefKey(ino, parent uint64) format.Key {
	return format.Key{ObjectID: ino, Type: format.InodeRefKey, Offset: parent}
}

func dirItemKey(dir uint64, name string) format.Key {
	return format.Key{ObjectID: dir, Type: format.DirItemKey, Offset: format.NameHash([]byte(name))}
}

func dirIndexKey(dir, index uint64) format.Key {
	return format.Key{ObjectID: dir, Type: format.DirIndexKey, Offset: index}
}

func xattrKey(ino uint64, name string) format.Key {
	return format.Key{ObjectID: ino, Type: format.XattrItemKey, Offset: format.NameHash([]byte(name))}
}

// orphanKey is the ORPHAN_ITEM of an unlinked inode still to be evicted.
func orphanKey(ino uint64) format.Key {
	return format.Key{ObjectID: format.OrphanObjectID, Type: format.OrphanItemKey, Offset: ino}
}

// rootRefKey and rootBackrefKey link subvolume id to its parent tree 5.
func rootRefKey(id uint64) format.Key {
	return format.Key{ObjectID: format.FSTreeObjectID, Type: format.RootRefKey, Offset: id}
}

func rootBackrefKey(id uint64) format.Key {
	return format.Key{ObjectID: id, Type: format.RootBackrefKey, Offset: format.FSTreeObjectID}
}

// subvolLocation is the location key of a directory entry naming
// subvolume id: (id, ROOT_ITEM, 0), as the kernel writes it.
func subvolLocation(id uint64) format.Key {
	return format.Key{ObjectID: id, Type: format.RootItemKey}
}

// Modes of the inodes the workload makes.
const (
	modeFile = 0o100644
	modeDir  = 0o40755
)

// txnTime is the timestamp of transaction transid: deterministic, so that
// a seed reproduces every byte.
func txnTime(transid uint64) format.Timespec {
	return format.Timespec{Sec: 1_700_000_000 + transid, Nsec: uint32(transid % 1_000_000_000)}
}

// newInode is the INODE_ITEM of a new file or directory: nlink 1, size 0.
func newInode(transid uint64, mode uint32) []byte {
	ts := txnTime(transid)
	ii := format.InodeItem{Generation: transid, Transid: transid, Nlink: 1, Mode: mode, Sequence: 1,
		Atime: ts, Ctime: ts, Mtime: ts, Otime: ts}
	return ii.Encode()
}

func inodeRef(index uint64, name string) []byte {
	return format.InodeRefItem{{Index: index, Name: []byte(name)}}.Encode()
}

func dirEntry(loc format.Key, transid uint64, ft uint8, name string) format.DirEntry {
	return format.DirEntry{Location: loc, Transid: transid, Type: ft, Name: []byte(name)}
}

func xattrEntry(transid uint64, name string, value []byte) format.DirEntry {
	return format.DirEntry{Transid: transid, Type: format.FtXattr, Name: []byte(name), Data: value}
}

// touch is the change a directory entry or xattr makes to an inode.
func touch(transid uint64) func(*format.InodeItem) {
	return func(ii *format.InodeItem) {
		ii.Transid = transid
		ii.Ctime = txnTime(transid)
		ii.Sequence++
	}
}

// maxEntrySpace is the largest name+data an XATTR_ITEM entry can take when
// the item already holds used bytes.
func maxEntrySpace(nodesize uint32, used int) int {
	return int(format.MaxItemSize(nodesize)) - used - format.DirEntryHeaderSize
}

func nameHash(name string) uint64 { return format.NameHash([]byte(name)) }
