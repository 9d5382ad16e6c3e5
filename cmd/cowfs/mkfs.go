package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

// mkfsFlags are the raw flag values, parsed into mkfs.Options by options.
type mkfsFlags struct {
	size, nodesize, sectorsize, csum, label string
	force, noFreeSpaceTree                  bool
}

func newMkfsCmd() *cobra.Command {
	var f mkfsFlags
	cmd := &cobra.Command{
		Use:   "mkfs [flags] IMAGE",
		Short: "Create an empty btrfs filesystem on an image file or block device",
		Long: `Create an empty btrfs filesystem (single device, SINGLE profiles, a
free-space tree as mkfs.btrfs makes by default) that the Linux kernel
mounts and btrfs check accepts. --no-free-space-tree leaves the tree out
(as mkfs.btrfs -R ^free-space-tree).

IMAGE is a regular file or a block device. A missing IMAGE is created as a
sparse file of --size bytes (then --size is required). An existing file is
used at --size (grown if smaller; a larger file keeps its length and the
filesystem covers only its first --size bytes) or, without --size, whole.

Sizes take an optional K, M, G or T suffix (binary: 16K = 16384).
The smallest filesystem is 23M (22M with --nodesize 4K or 8K, 33M with 32K,
53M with 64K; without a free-space tree 21M, 29M with 32K, 45M with 64K).

Exit status: 0 done; 2 bad flags or parameters (one line on stderr, nothing
written, no file created); 1 any other failure, including an IMAGE that
already holds a btrfs filesystem without --force (nothing written).`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("mkfs: want exactly one IMAGE argument, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMkfs(cmd.OutOrStdout(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.size, "size", "", "filesystem size, e.g. 256M (default: the whole IMAGE; required to create one)")
	fl.StringVar(&f.nodesize, "nodesize", "16K", "tree block size: a power of two from the sector size to 64K")
	fl.StringVar(&f.sectorsize, "sectorsize", "4K", "data block size: 4K (or the page size)")
	fl.StringVar(&f.csum, "csum", "xxhash", "checksum algorithm: xxhash, crc32c, sha256 or blake2b")
	fl.StringVarP(&f.label, "label", "L", "", "filesystem label, at most 255 bytes")
	fl.BoolVarP(&f.force, "force", "f", false, "overwrite an IMAGE that already holds a btrfs filesystem")
	fl.BoolVar(&f.noFreeSpaceTree, "no-free-space-tree", false, "make no free-space tree (as mkfs.btrfs -R ^free-space-tree); cowfs and the kernel then derive free space from the extent tree")
	return cmd
}

// options turns the flags into mkfs options; every error is a usage error.
func (f mkfsFlags) options() (mkfs.Options, error) {
	o := mkfs.DefaultOptions()
	o.Label, o.Force, o.NoFreeSpaceTree = f.label, f.force, f.noFreeSpaceTree
	var err error
	if f.size != "" {
		if o.Size, err = mkfs.ParseSize(f.size); err != nil {
			return o, usageError{fmt.Errorf("--size: %w", err)}
		}
		if o.Size == 0 {
			return o, usagef("--size: must be positive")
		}
	}
	if o.NodeSize, err = parseMkfsSize32("--nodesize", f.nodesize); err != nil {
		return o, err
	}
	if o.SectorSize, err = parseMkfsSize32("--sectorsize", f.sectorsize); err != nil {
		return o, err
	}
	if o.Csum, err = format.ParseCsumType(f.csum); err != nil {
		return o, usagef("--csum: %v", err)
	}
	return o, nil
}

func parseMkfsSize32(flag, s string) (uint32, error) {
	n, err := mkfs.ParseSize(s)
	if err != nil {
		return 0, usageError{fmt.Errorf("%s: %w", flag, err)}
	}
	if n > 1<<31 {
		return 0, usagef("%s: %s is too large", flag, s)
	}
	return uint32(n), nil
}

// runMkfs validates everything before touching IMAGE, opens it (O_DIRECT,
// through disk.OpenFile), makes the filesystem and prints a summary.
func runMkfs(out io.Writer, path string, f mkfsFlags) error {
	o, err := f.options()
	if err != nil {
		return err
	}
	dev, res, err := makeImage(path, o)
	if err != nil {
		return err
	}
	if err := dev.Close(); err != nil {
		return err
	}
	printMkfsResult(out, path, res)
	return nil
}

// makeImage makes a filesystem with o in IMAGE and returns it open. A
// file it created is removed again if that fails.
func makeImage(path string, o mkfs.Options) (*disk.FileDevice, *mkfs.Result, error) {
	dev, created, err := openMkfsImage(path, o)
	if err != nil {
		return nil, nil, mkfsError(path, err)
	}
	res, err := mkfs.Make(dev, o)
	if err != nil {
		dev.Close()
		if created {
			os.Remove(path)
		}
		return nil, nil, mkfsError(path, err)
	}
	return dev, res, nil
}

// mkfsError maps library errors to exit statuses: invalid options 2,
// everything else (an existing filesystem included) 1. The errors that
// judge the device (too small, already a filesystem) name it.
func mkfsError(path string, err error) error {
	var usage usageError
	switch {
	case errors.As(err, &usage):
		return err // worded already: a flag, or a message naming path
	case errors.Is(err, mkfs.ErrInvalidOptions):
		return usageError{fmt.Errorf("%s: %w", path, err)}
	case errors.Is(err, mkfs.ErrExists):
		return fmt.Errorf("%s: %w; use --force to overwrite it", path, err)
	}
	return err
}

// openMkfsImage opens IMAGE for mkfs without changing it until every check has
// passed: a missing file is created only after validation, an existing one
// is grown only after validation and the existing-filesystem probe.
func openMkfsImage(path string, o mkfs.Options) (*disk.FileDevice, bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		dev, err := createMkfsImage(path, o)
		return dev, dev != nil, err
	}
	if err != nil {
		return nil, false, err
	}
	dev, err := disk.OpenFile(path, disk.FileOptions{})
	if err != nil {
		return nil, false, err
	}
	if !st.Mode().IsRegular() || o.Size <= dev.Size() {
		return dev, false, nil // Make validates against the device
	}
	dev, err = growMkfsImage(dev, path, o)
	return dev, false, err
}

// createMkfsImage creates a sparse image of o.Size bytes after validating.
func createMkfsImage(path string, o mkfs.Options) (*disk.FileDevice, error) {
	if o.Size == 0 {
		return nil, usagef("%s does not exist: --size is required to create it", path)
	}
	if err := o.Validate(o.Size); err != nil {
		return nil, usageError{err}
	}
	return disk.OpenFile(path, disk.FileOptions{Create: true, Size: o.Size})
}

// growMkfsImage extends a regular file to o.Size, once the options are valid
// for that size and no filesystem would be lost (unless --force).
func growMkfsImage(dev *disk.FileDevice, path string, o mkfs.Options) (*disk.FileDevice, error) {
	err := o.Validate(o.Size)
	if err != nil {
		err = usageError{err}
	} else if !o.Force {
		err = mkfs.Probe(dev)
	}
	dev.Close()
	if err != nil {
		return nil, err
	}
	return disk.OpenFile(path, disk.FileOptions{Create: true, Size: o.Size})
}

// printMkfsResult prints a summary in the spirit of mkfs.btrfs.
func printMkfsResult(w io.Writer, path string, r *mkfs.Result) {
	label := r.Label
	if label == "" {
		label = "(null)"
	}
	fmt.Fprintf(w, "Label:              %s\n", label)
	fmt.Fprintf(w, "UUID:               %s\n", r.Fsid)
	fmt.Fprintf(w, "Node size:          %d\n", r.NodeSize)
	fmt.Fprintf(w, "Sector size:        %d\n", r.SectorSize)
	fmt.Fprintf(w, "Checksum:           %s\n", r.Csum)
	fmt.Fprintf(w, "Filesystem size:    %s\n", mkfs.FormatSize(int64(r.TotalBytes)))
	fmt.Fprintf(w, "Device:             %s (devid 1, uuid %s)\n", path, r.DevUUID)
	fmt.Fprintf(w, "Chunks (single profile, logical == physical):\n")
	for _, c := range r.Chunks {
		fmt.Fprintf(w, "  %-9s %10d  %9s  used %s\n", c.TypeName()+":", c.Logical,
			mkfs.FormatSize(int64(c.Length)), mkfs.FormatSize(int64(c.Used)))
	}
	fmt.Fprintf(w, "Trees (one leaf each, generation %d):\n", r.Generation)
	for _, t := range r.Trees {
		fmt.Fprintf(w, "  %-16s %10d  %d items\n", t.Name+":", t.Bytenr, t.Items)
	}
	fmt.Fprintf(w, "Superblock copies:  %v\n", r.SuperCopies)
}
