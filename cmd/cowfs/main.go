// Command cowfs is the command-line front end of cowfs, a userspace btrfs:
// mkfs, mount/sync/umount, inspection (dump-super, dump-tree), fsck and the
// seed's reproduction. Each subcommand lives in its own file; the logic
// lives in the libraries.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks bad flags or arguments: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode is returned by commands that decide their own nonzero status
// (fsck: 1 when problems were found) after printing their output.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "cowfs",
		Short: "cowfs: a userspace btrfs for studying copy-on-write metadata amplification",
		Long: `cowfs reads and writes real btrfs images (btrfs check passes on them, the
Linux kernel mounts them) and rebuilds the kernel's metadata machinery so that
every copy-on-write decision can be switched, counted and crash-tested.`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newMkfsCmd(), newDumpSuperCmd(), newDumpTreeCmd(), newFsckCmd(), newReproCmd(), newMountCmd(), newUmountCmd(), newSyncCmd(), newZeroLogCmd(), newCrashCmd())
	markArgErrorsAsUsage(root)
	return root
}

// markArgErrorsAsUsage makes positional-argument errors (wrong count, unknown
// subcommand) usage errors, so they exit 2 like bad flags do.
func markArgErrorsAsUsage(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markArgErrorsAsUsage(sub)
	}
}

// oneLine is err's message on one line: a trailing newline (go-fuse ends
// some errors with one) dropped, the lines of joined errors separated by
// "; ".
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

func main() {
	os.Exit(run(newRoot(), os.Args[1:]))
}

// run executes the command tree and maps errors to exit statuses: 0 ok,
// 1 failure (or fsck problems), 2 bad usage.
func run(root *cobra.Command, args []string) int {
	root.SetArgs(args)
	err := root.Execute()
	var code exitCode
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &usage), strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintf(os.Stderr, "cowfs: %s\n", oneLine(err))
		return 2
	}
	fmt.Fprintf(os.Stderr, "cowfs: %s\n", oneLine(err))
	return 1
}
