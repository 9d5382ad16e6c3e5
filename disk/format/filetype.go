package format

import "syscall"

// FileTypeOf is the directory entry type (DIR_ITEM's type byte) of an
// inode mode.
func FileTypeOf(mode uint32) uint8 {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return FtRegFile
	case syscall.S_IFDIR:
		return FtDir
	case syscall.S_IFCHR:
		return FtChrdev
	case syscall.S_IFBLK:
		return FtBlkdev
	case syscall.S_IFIFO:
		return FtFifo
	case syscall.S_IFSOCK:
		return FtSock
	case syscall.S_IFLNK:
		return FtSymlink
	}
	return FtUnknown
}
