package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"cowfs/disk"
	"cowfs/fsck"
)

func newFsckCmd() *cobra.Command {
	var opts fsck.Options
	cmd := &cobra.Command{
		Use:   "fsck IMAGE",
		Short: "check a btrfs image read-only: every block, and every cross-reference btrfs check verifies",
		Long: `fsck opens IMAGE read-only and checks every superblock copy and every tree
block reachable from the superblock against the kernel's rules, then the
cross-references btrfs check verifies (extent items and backrefs, block
groups, chunks, dev extents, devices, free-space tree, inodes and names,
file extents, checksums, root refs; docs/fsck.md). It prints one line per
problem, in the kernel tree-checker's wording, then a summary.

Exit status: 0 no problems, 1 problems found (or IMAGE is not a checkable
btrfs image), 2 bad usage.`,
		Args: imageArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runFsck(cmd, args[0], opts) },
	}
	cmd.Flags().IntVar(&opts.MaxProblems, "max-problems", 0, "stop after this many problems (0: no limit)")
	cmd.Flags().BoolVar(&opts.CheckDataCsum, "check-data-csum", false, "also read every checksummed data sector and verify it")
	return cmd
}

func runFsck(cmd *cobra.Command, path string, opts fsck.Options) error {
	dev, err := openInspectImage(cmd, path)
	if err != nil {
		return err
	}
	defer dev.Close()
	rep, err := fsck.Check(dev, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out := cmd.OutOrStdout()
	for _, p := range rep.Problems {
		fmt.Fprintln(out, p.Message)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(out, "warning: "+w.Message)
	}
	fmt.Fprintln(out, rep.Summary())
	if !rep.Clean() {
		return exitCode(1)
	}
	return nil
}

// imageArgs accepts exactly one IMAGE argument; anything else is a usage
// error (exit status 2).
func imageArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("%s: expected one IMAGE argument, got %d", cmd.Name(), len(args))
	}
	return nil
}

// openInspectImage opens an image file or block device read-only, through the page
// cache (the inspection commands never write). An image that another
// program writes (a mount) is opened with a warning, as btrfs check --force
// does: what is read may be half of two commits.
func openInspectImage(cmd *cobra.Command, path string) (*disk.FileDevice, error) {
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true, Buffered: true, AllowWriter: true})
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err // the path is already in our message
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if w := dev.Writer(); w != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "cowfs: warning: %s is in use: %s; the image may change while %s reads it, so what it reports is unreliable\n", path, w, cmd.Name())
	}
	return dev, nil
}
