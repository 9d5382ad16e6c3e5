package disk

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Where the kernel says which files back loop devices, and what is mounted.
var (
	sysBlock  = "/sys/block"
	mountInfo = "/proc/self/mountinfo"
)

// kernelHolder finds the kernel using the image, which takes no flock: a
// block device held exclusively (a mount; a read-write open asks for that
// itself with O_EXCL, a read-only one probes), or an image file backing a
// mounted loop device. A read-only open minds only read-write mounts.
func kernelHolder(path string, st fs.FileInfo, readOnly bool) *Holder {
	switch {
	case isBlockDevice(st.Mode()) && readOnly && heldExclusively(path):
		return &Holder{Writes: true, Kernel: busyDevice}
	case st.Mode().IsRegular():
		return loopMount(st, readOnly)
	}
	return nil
}

// busyDevice describes a block device that refuses O_EXCL (EBUSY).
const busyDevice = "the kernel holds the block device (mounted, or opened exclusively by another program)"

func isBlockDevice(m fs.FileMode) bool {
	return m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0
}

// heldExclusively reports whether the block device at path refuses an
// exclusive open (EBUSY), as a mounted one does.
func heldExclusively(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err == unix.EBUSY
}

// loopMount finds a loop device backed by the file of st that is mounted
// (read-write, if readOnly).
func loopMount(st fs.FileInfo, readOnly bool) *Holder {
	ents, _ := os.ReadDir(sysBlock)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") || !backs(e.Name(), st) {
			continue
		}
		dev := "/dev/" + e.Name()
		if mnt, rw := mountedFrom(dev); mnt != "" && (rw || !readOnly) {
			return &Holder{Writes: rw, Kernel: fmt.Sprintf("the kernel has it mounted on %s (through %s)", mnt, dev)}
		}
	}
	return nil
}

// backs reports whether loop device name is backed by the file of st.
func backs(name string, st fs.FileInfo) bool {
	b, err := os.ReadFile(filepath.Join(sysBlock, name, "loop", "backing_file"))
	if err != nil {
		return false
	}
	fi, err := os.Stat(strings.TrimSuffix(string(b), "\n"))
	return err == nil && os.SameFile(fi, st)
}

// mountedFrom returns where source is mounted and whether read-write,
// from mountinfo ("" if nowhere): "36 35 98:0 / /mnt rw,noatime shared:1 -
// btrfs /dev/loop3 rw,space_cache".
func mountedFrom(source string) (string, bool) {
	b, err := os.ReadFile(mountInfo)
	if err != nil {
		return "", false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep > 5 && sep+3 < len(f) && f[sep+2] == source {
			rw := !slices.Contains(strings.Split(f[5], ","), "ro") && !slices.Contains(strings.Split(f[sep+3], ","), "ro")
			return f[4], rw
		}
	}
	return "", false
}
