package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"cowfs/disk"
	"cowfs/treelog"
)

func newZeroLogCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "zero-log IMAGE",
		Short: "drop the fsync log of an image, as btrfs rescue zero-log",
		Long: `zero-log clears log_root in every superblock copy of IMAGE: what was fsynced
after the last commit is lost, and the image opens at its last commit (read-write
without a replay, read-only without --no-log-replay). Use it when a log cannot be
replayed. The image must not be mounted.

Exit status: 0 done (or no log to drop); 1 the image could not be opened or written;
2 bad usage.`,
		Args: imageArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runZeroLog(cmd, args[0]) },
	}
}

func runZeroLog(cmd *cobra.Command, path string) error {
	dev, err := disk.OpenFile(path, disk.FileOptions{})
	if err != nil {
		return err
	}
	had, err := treelog.ZeroLog(dev)
	if cerr := dev.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if had {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: log dropped; the image opens at its last commit\n", path)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: no log to drop\n", path)
	}
	return nil
}
