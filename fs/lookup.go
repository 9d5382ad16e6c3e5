package fs

import (
	"fmt"
	"syscall"

	"cowfs/disk/format"
)

// Lookup returns the attributes of name in dir. "." and ".." are the
// directory and its parent. A name of another subvolume fails with
// EOPNOTSUPP (cowfs serves subvolume 5 only; ReadDir lists such names).
func (fs *FS) Lookup(dir uint64, name string) (Attr, error) {
	switch {
	case name == "":
		return Attr{}, opError("lookup", dir, name, syscall.ENOENT, "empty name")
	case len(name) > format.NameMax:
		return Attr{}, opError("lookup", dir, name, syscall.ENAMETOOLONG, "")
	}
	fs.ns.RLock()
	defer fs.ns.RUnlock()
	if _, err := fs.dirInode("lookup", dir); err != nil {
		return Attr{}, err
	}
	ino := dir
	switch name {
	case ".":
	case "..":
		p, err := fs.parentOf(dir)
		if err != nil {
			return Attr{}, err
		}
		ino = p
	default:
		e, err := fs.lookupEntry("lookup", dir, name)
		if err != nil {
			return Attr{}, err
		}
		ino = e.ino
	}
	return fs.GetAttr(ino)
}

// DirEntry is one name of a directory, as ReadDir lists it.
type DirEntry struct {
	Name string
	// Ino is the inode, or for a subvolume (Subvol) the subvolume's id.
	Ino  uint64
	Mode uint32 // the file type bits (S_IFDIR, S_IFREG, ...)
	Type uint8  // the DIR_INDEX type (format.FtRegFile, ...)
	// Offset is the entry's DIR_INDEX: ReadDir(dir, Offset+1, ...) goes on
	// after it, whatever was added or removed meanwhile.
	Offset uint64
	Subvol bool
}

var modeOfType = map[uint8]uint32{
	format.FtRegFile: syscall.S_IFREG, format.FtDir: syscall.S_IFDIR, format.FtChrdev: syscall.S_IFCHR,
	format.FtBlkdev: syscall.S_IFBLK, format.FtFifo: syscall.S_IFIFO, format.FtSock: syscall.S_IFSOCK,
	format.FtSymlink: syscall.S_IFLNK,
}

// ReadDir calls fn for the entries of dir in DIR_INDEX order, starting at
// index offset (0 or 2 for the first entry; indexes start at 2), until fn
// returns false. "." and ".." are not listed. Entries added or removed
// during the listing may or may not be seen; none is seen twice. fn may
// call other methods of fs.
func (fs *FS) ReadDir(dir, offset uint64, fn func(DirEntry) bool) error {
	if _, err := fs.dirInode("readdir", dir); err != nil {
		return err
	}
	it := fs.root.Scan(dirIndexKey(dir, offset), format.Key{ObjectID: dir, Type: format.DirIndexKey + 1})
	for it.Next() {
		item := it.Item()
		di, err := format.DecodeDirItem(item.Data)
		if err != nil || len(di) != 1 {
			return fmt.Errorf("readdir inode %d: DIR_INDEX %d: %w", dir, item.Key.Offset, format.ErrCorrupt)
		}
		d := di[0]
		typ := d.Type &^ format.FtEncrypted
		e := DirEntry{Name: string(d.Name), Ino: d.Location.ObjectID, Mode: modeOfType[typ], Type: typ,
			Offset: item.Key.Offset, Subvol: d.Location.Type == format.RootItemKey}
		if !fn(e) {
			return nil
		}
	}
	return it.Err()
}
