package dump

import (
	"fmt"
	"strings"
	"time"

	"cowfs/disk/format"
)

// timespec prints "\t\tatime 1795487086.0 (2026-11-24 02:24:46)" in local
// time, nanoseconds unpadded as dump-tree prints them.
func timespec(b *strings.Builder, label string, t format.Timespec) {
	when := time.Unix(int64(t.Sec), 0).Format("2006-01-02 15:04:05")
	fmt.Fprintf(b, "\t\t%s %d.%d (%s)\n", label, t.Sec, t.Nsec, when)
}

func inodeItem(b *strings.Builder, it item) error {
	v, err := format.DecodeInodeItem(it.data)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\t\tgeneration %d transid %d size %d nbytes %d\n", v.Generation, v.Transid, v.Size, v.Nbytes)
	fmt.Fprintf(b, "\t\tblock group %d mode %o links %d uid %d gid %d rdev %d\n",
		v.BlockGroup, v.Mode, v.Nlink, v.UID, v.GID, v.Rdev)
	fmt.Fprintf(b, "\t\tsequence %d flags %s\n", v.Sequence, inodeFlags(v.Flags))
	timespec(b, "atime", v.Atime)
	timespec(b, "ctime", v.Ctime)
	timespec(b, "mtime", v.Mtime)
	timespec(b, "otime", v.Otime)
	return nil
}

func inodeRef(b *strings.Builder, it item) error {
	refs, err := format.DecodeInodeRefs(it.data)
	if err != nil {
		return err
	}
	for _, r := range refs {
		fmt.Fprintf(b, "\t\tindex %d namelen %d name: %s\n", r.Index, len(r.Name), cstr(r.Name))
	}
	return nil
}

func inodeExtref(b *strings.Builder, it item) error {
	refs, err := format.DecodeInodeExtrefs(it.data)
	if err != nil {
		return err
	}
	for _, r := range refs {
		fmt.Fprintf(b, "\t\tindex %d parent %d namelen %d name: %s\n", r.Index, r.Parent, len(r.Name), cstr(r.Name))
	}
	return nil
}

var dirTypeNames = map[uint8]string{
	format.FtRegFile: "FILE", format.FtDir: "DIR", format.FtChrdev: "CHRDEV",
	format.FtBlkdev: "BLKDEV", format.FtFifo: "FIFO", format.FtSock: "SOCK",
	format.FtSymlink: "SYMLINK", format.FtXattr: "XATTR",
}

func dirType(t uint8) string {
	if s, ok := dirTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("DIR_ITEM.%d", t)
}

// dirItem prints DIR_ITEM, DIR_INDEX and XATTR_ITEM entries.
func dirItem(b *strings.Builder, it item) error {
	entries, err := format.DecodeDirItem(it.data)
	if err != nil {
		return err
	}
	for _, e := range entries {
		fmt.Fprintf(b, "\t\tlocation %s type %s\n", Key(e.Location), dirType(e.Type))
		fmt.Fprintf(b, "\t\ttransid %d data_len %d name_len %d\n", e.Transid, len(e.Data), len(e.Name))
		fmt.Fprintf(b, "\t\tname: %s\n", cstr(e.Name))
		if len(e.Data) > 0 {
			fmt.Fprintf(b, "\t\tdata %s\n", cstr(e.Data))
		}
	}
	return nil
}

func dirLogItem(b *strings.Builder, it item) error {
	v, err := format.DecodeDirLogItem(it.data)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\t\tdir log end %d\n", v.End)
	return nil
}

var compressNames = []string{"none", "zlib", "lzo", "zstd"}

func compression(c uint8) string {
	if int(c) < len(compressNames) {
		return compressNames[c]
	}
	return fmt.Sprintf("UNKNOWN.%d", c)
}

var fileExtentTypes = []string{"inline", "regular", "prealloc"}

func fileExtentType(t uint8) string {
	if int(t) < len(fileExtentTypes) {
		return fileExtentTypes[t]
	}
	return "unknown"
}

// fileExtent prints an EXTENT_DATA item: inline, prealloc or regular.
func fileExtent(b *strings.Builder, it item) error {
	v, err := format.DecodeFileExtent(it.data)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\t\tgeneration %d type %d (%s)\n", v.Generation, v.Type, fileExtentType(v.Type))
	switch v.Type {
	case format.FileExtentInline:
		fmt.Fprintf(b, "\t\tinline extent data size %d ram_bytes %d compression %d (%s)\n",
			len(v.Inline), v.RAMBytes, v.Compression, compression(v.Compression))
	case format.FileExtentPrealloc:
		fmt.Fprintf(b, "\t\tprealloc data disk byte %d nr %d\n", v.DiskBytenr, v.DiskNumBytes)
		fmt.Fprintf(b, "\t\tprealloc data offset %d nr %d\n", v.Offset, v.NumBytes)
	default:
		fmt.Fprintf(b, "\t\textent data disk byte %d nr %d\n", v.DiskBytenr, v.DiskNumBytes)
		fmt.Fprintf(b, "\t\textent data offset %d nr %d ram %d\n", v.Offset, v.NumBytes, v.RAMBytes)
		fmt.Fprintf(b, "\t\textent compression %d (%s)\n", v.Compression, compression(v.Compression))
	}
	return nil
}
