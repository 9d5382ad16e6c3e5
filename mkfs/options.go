package mkfs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"cowfs/disk/format"
)

// ErrInvalidOptions marks every error about impossible parameters: a bad
// node or sector size, an unknown checksum, a size below MinSize or above
// the device, an over-long label. Nothing has been written when it is
// returned. The command maps it to exit status 2.
var ErrInvalidOptions = errors.New("invalid mkfs option")

// ErrExists reports that the device already holds a valid btrfs superblock
// and Options.Force is not set. Nothing has been written.
var ErrExists = errors.New("device already holds a btrfs filesystem")

// Options are the parameters of one mkfs run.
type Options struct {
	// Size is the filesystem size in bytes; 0 means the whole device. It is
	// rounded down to SectorSize.
	Size       int64
	NodeSize   uint32 // tree block size: a power of two in [SectorSize, 64 KiB]
	SectorSize uint32 // 4096, or the page size
	Csum       format.CsumType
	Label      string // at most 255 bytes, no NUL
	Force      bool   // overwrite an existing btrfs
	// Fsid, ChunkUUID, DevUUID and FSTreeUUID (the uuid of subvolume 5,
	// recorded in the UUID tree) are random when zero.
	Fsid, ChunkUUID, DevUUID, FSTreeUUID format.UUID
	// Now stamps the root directories and the fs tree's ROOT_ITEM; zero
	// means time.Now.
	Now time.Time
	// NoFreeSpaceTree leaves the free-space tree (10) out, as
	// `mkfs.btrfs -R ^free-space-tree`; by default it is made, as
	// mkfs.btrfs does since btrfs-progs 5.15.
	NoFreeSpaceTree bool
}

// Limits of the options.
const (
	MaxNodeSize = 64 * 1024
	MaxLabelLen = 255 // the superblock field is 256 bytes, NUL-terminated
)

// DefaultOptions returns the defaults: the whole device, 16 KiB nodes,
// 4 KiB sectors, xxhash64 checksums, no label.
func DefaultOptions() Options {
	return Options{NodeSize: 16 * 1024, SectorSize: 4096, Csum: format.CsumXXHash}
}

// String prints the options on one line, for logs and benchmark output.
func (o Options) String() string {
	size := "device"
	if o.Size != 0 {
		size = FormatSize(o.Size)
	}
	return fmt.Sprintf("size=%s nodesize=%d sectorsize=%d csum=%s label=%q force=%t free-space-tree=%t",
		size, o.NodeSize, o.SectorSize, o.Csum, o.Label, o.Force, !o.NoFreeSpaceTree)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
}

// Validate checks the options against a device of devSize bytes. Every
// error wraps ErrInvalidOptions and is one line.
func (o Options) Validate(devSize int64) error {
	if err := o.validateSizes(); err != nil {
		return err
	}
	if !o.Csum.Valid() {
		return invalid("unknown checksum type %d", uint16(o.Csum))
	}
	if len(o.Label) > MaxLabelLen {
		return invalid("label is %d bytes, at most %d allowed", len(o.Label), MaxLabelLen)
	}
	if strings.IndexByte(o.Label, 0) >= 0 {
		return invalid("label contains a NUL byte")
	}
	return o.validateSize(devSize)
}

// validateSizes checks sector and node size.
func (o Options) validateSizes() error {
	page := uint32(os.Getpagesize())
	if o.SectorSize != 4096 && o.SectorSize != page {
		return invalid("sectorsize %d: only 4096 or the page size (%d) is supported", o.SectorSize, page)
	}
	n := o.NodeSize
	if n == 0 || n&(n-1) != 0 {
		return invalid("nodesize %d is not a power of two", n)
	}
	if n < o.SectorSize || n > MaxNodeSize {
		return invalid("nodesize %d outside [%d, %d]", n, o.SectorSize, MaxNodeSize)
	}
	return nil
}

// validateSize checks the filesystem size against MinSize and the device.
func (o Options) validateSize(devSize int64) error {
	size := o.Size
	switch {
	case size < 0:
		return invalid("size %d is negative", size)
	case size > devSize:
		return invalid("size %s is larger than the device (%s)", FormatSize(size), FormatSize(devSize))
	case size == 0:
		size = devSize
	}
	if minSize := o.minSize(); size < minSize {
		return invalid("size %s is below the minimum %s for nodesize %d", FormatSize(size), FormatSize(minSize), o.NodeSize)
	}
	return nil
}
