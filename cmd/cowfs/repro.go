package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/mkfs"
	"cowfs/transaction"
)

func newReproCmd() *cobra.Command {
	cfg := transaction.DefaultSeedConfig()
	var policy, reservations string
	var size int64 = 256 << 20
	var force bool
	cmd := &cobra.Command{
		Use:   "repro-seed IMAGE",
		Short: "reproduce the seed's ENOSPC: a file create under memory pressure exhausts its reservation",
		Long: `repro-seed makes a fresh 4 KiB-node filesystem in IMAGE (created if missing;
an existing btrfs needs --force), creates --files empty files and commits, then
reopens it with a cache of --budget-nodes nodes (the open trees hold eight of
them), no flusher and the kernel's restart behaviour, and creates one more file
(THREAD.md). Under policy always and strict reservations the create's first
search COWs one fs-tree node until the handle's reservation is gone: ENOSPC,
transaction abort, read-only, and a dump of every reserve with metadata mostly
free. With --reservations lenient the create completes and the overspend is
reported instead. The image keeps the last commit: cowfs fsck and btrfs check
pass on it afterwards.

Exit status: 0 the experiment ran (whatever the create's outcome), 1 it could
not run, 2 bad usage.`,
		Args: imageArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := ctree.ParsePolicy(policy)
			if err != nil {
				return usageError{err}
			}
			r, err := transaction.ParseReservations(reservations)
			if err != nil {
				return usageError{err}
			}
			cfg.Policy, cfg.Reservations = p, r
			return runRepro(cmd, args[0], size, force, cfg)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Files, "files", cfg.Files, "files created and committed before the pressure")
	f.IntVar(&cfg.BudgetNodes, "budget-nodes", cfg.BudgetNodes, "cache budget during the create, in nodes")
	f.StringVar(&policy, "policy", cfg.Policy.String(), "COW policy")
	f.StringVar(&reservations, "reservations", cfg.Reservations.String(), "strict or lenient")
	f.IntVar(&cfg.HoldReadsAfter, "hold-reads-after", cfg.HoldReadsAfter, "ctree's progress guarantee (-1: the kernel's unbounded restarts, 0: default 8)")
	f.Int64Var(&size, "size", size, "image size in bytes")
	f.BoolVar(&force, "force", false, "overwrite an existing btrfs")
	return cmd
}

func runRepro(cmd *cobra.Command, path string, size int64, force bool, cfg transaction.SeedConfig) error {
	if cfg.Files < 0 || cfg.BudgetNodes < 4 {
		return usagef("repro-seed: --files must be ≥ 0 and --budget-nodes ≥ 4")
	}
	dev, err := disk.OpenFile(path, disk.FileOptions{Create: true, Size: size})
	if err != nil {
		return err
	}
	defer dev.Close()
	o := mkfs.DefaultOptions()
	o.NodeSize, o.Force = 4096, force
	if _, err := mkfs.Make(dev, o); err != nil {
		if errors.Is(err, mkfs.ErrExists) {
			return fmt.Errorf("%s: %w (use --force)", path, err)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	res, err := transaction.RunSeed(dev, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprint(cmd.OutOrStdout(), res)
	fmt.Fprintf(os.Stderr, "image %s holds the last commit: check it with `cowfs fsck %s` and `btrfs check %s`\n", path, path, path)
	return nil
}
