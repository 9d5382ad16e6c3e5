package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck/dump"
)

type dumpSuperOpts struct {
	full, all, force bool
	mirror           int
}

func newDumpSuperCmd() *cobra.Command {
	var o dumpSuperOpts
	cmd := &cobra.Command{
		Use:   "dump-super [-f] [--all] IMAGE",
		Short: "print a superblock as btrfs inspect-internal dump-super does",
		Args:  imageArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.mirror < 0 || o.mirror >= format.SuperMirrorMax {
				return usagef("dump-super: --super %d: want 0, 1 or 2", o.mirror)
			}
			return runDumpSuper(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.full, "full", "f", false, "also print the sys_chunk_array and the backup roots")
	f.BoolVarP(&o.all, "all", "a", false, "print every superblock copy")
	f.BoolVarP(&o.force, "force", "F", false, "print a copy even if its magic is wrong")
	f.IntVarP(&o.mirror, "super", "s", 0, "which copy to print: 0, 1 or 2")
	return cmd
}

func runDumpSuper(cmd *cobra.Command, path string, o dumpSuperOpts) error {
	dev, err := openInspectImage(cmd, path)
	if err != nil {
		return err
	}
	defer dev.Close()
	w := bufio.NewWriter(cmd.OutOrStdout())
	defer w.Flush()
	copies := disk.ReadSupers(dev)
	mirrors := []int{o.mirror}
	if o.all {
		mirrors = []int{0, 1, 2}
	}
	for _, m := range mirrors {
		if err := dumpOneSuper(w, copies, m, path, o); err != nil {
			return err
		}
	}
	return nil
}

// dumpOneSuper prints copy m, followed by a blank line; a copy beyond the
// device end prints only the blank line, as btrfs-progs does with --all.
func dumpOneSuper(w io.Writer, copies []disk.SuperCopy, m int, path string, o dumpSuperOpts) error {
	c := findCopy(copies, m)
	if c == nil {
		if o.all {
			_, err := io.WriteString(w, "\n")
			return err
		}
		return fmt.Errorf("superblock %d at %d lies beyond the end of %s", m, format.MirrorOffset(m), path)
	}
	if err := dump.SuperTitle(w, c.Offset, path); err != nil {
		return err
	}
	switch {
	case c.Super == nil:
		return fmt.Errorf("cannot read superblock at %d of %s: %w", c.Offset, path, c.Err)
	case c.Super.Magic != format.Magic && !o.force:
		return fmt.Errorf("bad magic on superblock at %d of %s (use --force to print it anyway)", c.Offset, path)
	}
	if err := dump.Super(w, c.Super, o.full); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func findCopy(copies []disk.SuperCopy, mirror int) *disk.SuperCopy {
	for i := range copies {
		if copies[i].Mirror == mirror {
			return &copies[i]
		}
	}
	return nil
}
