package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"cowfs/mkfs"
	"cowfs/transaction"
)

func newReproCmd() *cobra.Command {
	cfg := transaction.DefaultSeedConfig()
	var policy, reservations, order string
	var unsafe bool
	size := "256M"
	var force bool
	cmd := &cobra.Command{
		Use:   "repro-seed IMAGE",
		Short: "reproduce the seed's ENOSPC: a file create under memory pressure exhausts its reservation",
		Long: `repro-seed makes a fresh 4 KiB-node filesystem of --size in IMAGE (created if
missing; an existing btrfs needs --force), creates --files empty files and
commits, then reopens it with a cache of --budget-nodes nodes (the open trees
hold eight of them), no flusher and the kernel's restart behaviour, and
creates one more file (docs/problem.md). Under policy always and strict
reservations the create's first search COWs one fs-tree node until the
handle's reservation is gone: ENOSPC, transaction abort, read-only, and a dump
of every reserve with metadata mostly free.

--reservations lenient takes the nodes of an overspent reservation from free
space instead of failing. With the kernel's unbounded restarts (the default
--hold-reads-after -1) nothing then ends the loop until metadata space runs
out: ENOSPC and an abort after tens of thousands of COWs, hundreds of times the
reservation. With --hold-reads-after 200 the create completes and the
overspend is reported. The output's "lenient:" line says which happened. The
image keeps the last commit: cowfs fsck and btrfs check pass on it afterwards.

Exit status: 0 the experiment ran (whatever the create's outcome), 1 it could
not run, 2 bad usage.`,
		Example: `  cowfs repro-seed seed.img                   # strict: ENOSPC, abort, dump
  cowfs repro-seed --force --reservations lenient --hold-reads-after 200 seed.img
  cowfs repro-seed --force --policy pin-search seed.img   # the seed's patch
  (docs/transaction.md gives each run's figures)`,
		Args: imageArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePolicy("--policy", policy, unsafe, os.Stderr)
			if err != nil {
				return err
			}
			if cfg.Order, err = parseOrder(order); err != nil {
				return err
			}
			r, err := transaction.ParseReservations(reservations)
			if err != nil {
				return usageError{err}
			}
			n, err := mkfs.ParseSize(size)
			if err != nil {
				return usageError{fmt.Errorf("--size: %w", err)}
			}
			cfg.Policy, cfg.Reservations = p, r
			return runRepro(cmd, args[0], n, force, cfg)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Files, "files", cfg.Files, "files created and committed before the pressure")
	f.IntVar(&cfg.BudgetNodes, "budget-nodes", cfg.BudgetNodes, "cache budget during the create, in nodes")
	f.StringVar(&policy, "policy", cfg.Policy.String(), policyUsage())
	f.BoolVar(&unsafe, "unsafe-policy", false, unsafePolicyUsage)
	f.StringVar(&order, "writeback-order", cfg.Order.String(), orderUsage)
	f.StringVar(&reservations, "reservations", cfg.Reservations.String(), reservationsUsage)
	f.IntVar(&cfg.HoldReadsAfter, "hold-reads-after", cfg.HoldReadsAfter, "ctree's progress guarantee (-1: the kernel's unbounded restarts, 0: default 8)")
	f.StringVar(&size, "size", size, "image size, with an optional K, M, G or T suffix (binary), as mkfs takes it")
	f.BoolVar(&force, "force", false, "overwrite an existing btrfs")
	return cmd
}

func runRepro(cmd *cobra.Command, path string, size int64, force bool, cfg transaction.SeedConfig) error {
	if cfg.Files < 0 || cfg.BudgetNodes < 4 {
		return usagef("repro-seed: --files must be ≥ 0 and --budget-nodes ≥ 4")
	}
	o := mkfs.DefaultOptions()
	o.Size, o.NodeSize, o.Force = size, 4096, force
	dev, _, err := makeImage(path, o)
	if err != nil {
		return err
	}
	defer dev.Close()
	res, err := transaction.RunSeed(dev, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprint(cmd.OutOrStdout(), res)
	fmt.Fprintf(os.Stderr, "image %s holds the last commit: check it with `cowfs fsck %s` and `btrfs check %s`\n", path, path, path)
	return nil
}
