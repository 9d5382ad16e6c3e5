package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cowfs/fs"
	"cowfs/fuse"
	"cowfs/mkfs"
	"cowfs/transaction"
)

// mountFlags are the raw flag values of `cowfs mount`.
type mountFlags struct {
	commitInterval                   time.Duration
	budget, dirtyThreshold, delalloc string
	policy, reservations, order      string
	unsafePolicy                     bool
	readOnly, allowOther, noChecks   bool
	noLogReplay                      bool
	background, debug, writeback     bool
	readyFD                          int
	log, cpuProfile                  string
}

func newMountCmd() *cobra.Command {
	var f mountFlags
	cmd := &cobra.Command{
		Use:   "mount [flags] IMAGE MOUNTPOINT",
		Short: "mount a btrfs image through FUSE (foreground unless --background)",
		Long: `mount serves the btrfs filesystem in IMAGE on MOUNTPOINT through FUSE until it
is unmounted (cowfs umount, umount, fusermount3 -u) or the daemon gets SIGINT or
SIGTERM; then it commits and exits. Writes reach the image at fsync, at every
commit (--commit-interval, and cowfs sync MOUNTPOINT) and at unmount; a crash
loses at most what came after the last commit, never the image's consistency.

An image holding an fsync log (written by the kernel, which crashed or was copied
before its next commit) is replayed at a read-write mount, then committed; a
read-only mount of it is refused ("log replay required on RO media", as the
kernel says) unless --no-log-replay, which shows the last commit and leaves the
log alone. cowfs zero-log drops such a log.

An image with a free-space tree (the default of mkfs.btrfs and cowfs mkfs) is
kept valid by every commit; one whose tree is not marked valid (the kernel
rebuilds it) is mounted read-only with a warning. The kernel checks permissions from the modes
and POSIX ACLs (FUSE default_permissions); --no-permission-checks turns that
off, with a warning, for a mount only its owner uses (not with --allow-other).

If the daemon dies or hangs, the mount answers ENOTCONN or blocks; detach it
with "umount -l MOUNTPOINT" (or "fusermount3 -uz MOUNTPOINT"); the image holds
the last commit.

Exit status: 0 unmounted cleanly; 1 the image could not be opened or mounted,
or the final commit failed; 2 bad usage.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("mount: want IMAGE and MOUNTPOINT, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runMount(cmd, args[0], args[1], f) },
	}
	fl := cmd.Flags()
	d := transaction.DefaultOptions()
	fl.DurationVar(&f.commitInterval, "commit-interval", d.CommitInterval, "commit the running transaction this often (0: only on sync, fsync and unmount)")
	fl.StringVar(&f.budget, "cache-budget", "64M", "metadata cache budget")
	fl.StringVar(&f.dirtyThreshold, "dirty-threshold", "0", "dirty metadata that wakes the flusher (0: the cache budget, so blocks are written before their commit only when the cache needs room)")
	fl.StringVar(&f.delalloc, "data-buffer", "32M", "buffer up to this much file data in memory before allocating it (space is reserved at write time; 0: write through)")
	fl.StringVar(&f.policy, "cow-policy", d.Tree.Policy.String(), policyUsage())
	fl.BoolVar(&f.unsafePolicy, "unsafe-policy", false, unsafePolicyUsage)
	fl.StringVar(&f.order, "writeback-order", d.Cache.Order.String(), orderUsage)
	fl.StringVar(&f.reservations, "reservations", d.Reservations.String(), reservationsUsage)
	fl.BoolVar(&f.readOnly, "read-only", false, "mount read-only")
	fl.BoolVar(&f.noLogReplay, "no-log-replay", false, "mount an image holding an fsync log read-only at its last commit, without replaying the log (the kernel's rescue=nologreplay)")
	fl.BoolVar(&f.allowOther, "allow-other", false, "let other users use the mount (FUSE allow_other)")
	fl.BoolVar(&f.noChecks, "no-permission-checks", false, "check no permissions or ACLs: whoever reaches the mount may do anything (warns; not with --allow-other)")
	fl.Bool("default-permissions", true, "")
	_ = fl.MarkDeprecated("default-permissions", "permission checks are on by default (--no-permission-checks turns them off)")
	fl.BoolVar(&f.background, "background", false, "detach once mounted")
	fl.BoolVar(&f.writeback, "writeback-cache", false, "let the kernel cache writes and send them in large batches (FUSE writeback_cache): faster writes, but a write's ENOSPC shows at fsync, close or sync, not at write(2)")
	fl.BoolVar(&f.debug, "debug", false, "log every FUSE request")
	fl.StringVar(&f.log, "log", "", "once mounted, append the daemon's messages to this file (default: stderr; with --background, discarded)")
	fl.IntVar(&f.readyFD, "ready-fd", 0, "internal: tell the parent on this fd once mounted")
	_ = fl.MarkHidden("ready-fd")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write the daemon's CPU profile (pprof) to this file from mount to unmount")
	_ = fl.MarkHidden("cpuprofile")
	return cmd
}

// options turns the flags into filesystem options; errors are usage errors.
func (f mountFlags) options() (fs.Options, error) {
	o := fs.DefaultOptions()
	t := &o.Transaction
	t.CommitInterval = f.commitInterval
	if f.commitInterval == 0 {
		t.CommitInterval = -1
	}
	t.ReadOnly = f.readOnly || f.noLogReplay
	t.NoLogReplay = f.noLogReplay
	var err error
	for _, s := range []struct {
		name, v string
		dst     *int64
	}{{"--cache-budget", f.budget, &t.Cache.Budget}, {"--dirty-threshold", f.dirtyThreshold, &t.Cache.DirtyThreshold},
		{"--data-buffer", f.delalloc, &o.DirtyThreshold}} {
		if *s.dst, err = mkfs.ParseSize(s.v); err != nil {
			return o, usageError{fmt.Errorf("%s: %w", s.name, err)}
		}
	}
	if f.noChecks && f.allowOther {
		return o, usagef("--no-permission-checks with --allow-other would let every user do anything")
	}
	if t.Tree.Policy, err = parsePolicy("--cow-policy", f.policy, f.unsafePolicy, os.Stderr); err != nil {
		return o, err
	}
	if t.Cache.Order, err = parseOrder(f.order); err != nil {
		return o, err
	}
	if t.Reservations, err = transaction.ParseReservations(f.reservations); err != nil {
		return o, usageError{err}
	}
	return o, o.Validate()
}

func runMount(cmd *cobra.Command, image, mnt string, f mountFlags) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	if f.background {
		return mountInBackground()
	}
	out, err := beforeMount(mnt, f)
	if err != nil {
		return err
	}
	debug.SetMemoryLimit(opts.GoMemoryLimit())
	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	filesys, err := fs.Open(image, opts)
	if err != nil {
		return err
	}
	if f.noChecks {
		fmt.Fprintln(cmd.ErrOrStderr(), "cowfs: warning: --no-permission-checks: no permission or ACL is checked on", mnt)
	}
	srv, err := fuse.Mount(filesys, mnt, fuse.Options{AllowOther: f.allowOther, NoPermissionChecks: f.noChecks,
		WritebackCache: f.writeback, Debug: f.debug})
	if err != nil {
		return errors.Join(err, filesys.Close())
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "cowfs: %s mounted on %s (%s; memory bound %d MiB, Go limit %d MiB)\n",
		image, srv.Mountpoint(), opts, opts.MemoryBound()>>20, opts.GoMemoryLimit()>>20)
	out.takeOver()
	tellReady(f.readyFD)
	go unmountOnSignal(srv)
	srv.Wait()
	if err := filesys.Close(); err != nil {
		return fmt.Errorf("%s: final commit: %w", image, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "cowfs: %s unmounted, committed\n", image)
	return nil
}

// unmountOnSignal unmounts at SIGINT or SIGTERM; a busy mount is detached
// lazily (it goes once its last user leaves), and Wait returns then.
func unmountOnSignal(srv *fuse.Server) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
	if err := srv.Unmount(); err != nil {
		fmt.Fprintf(os.Stderr, "cowfs: unmount %s: %v; detaching lazily\n", srv.Mountpoint(), err)
		if err := syscall.Unmount(srv.Mountpoint(), syscall.MNT_DETACH); err != nil {
			fmt.Fprintf(os.Stderr, "cowfs: detach %s: %v\n", srv.Mountpoint(), err)
		}
	}
}

// tellReady writes one byte on the parent's pipe (--background).
func tellReady(fd int) {
	if fd <= 0 {
		return
	}
	w := os.NewFile(uintptr(fd), "ready")
	w.Write([]byte{1})
	w.Close()
}

// mountInBackground runs this command again without --background, in its
// own session, and returns once the child has mounted (or failed).
func mountInBackground() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	args := []string{}
	for _, a := range os.Args[1:] {
		if a != "--background" && a != "--background=true" {
			args = append(args, a)
		}
	}
	child := exec.Command(os.Args[0], append(args, "--ready-fd=3")...)
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	child.ExtraFiles = []*os.File{w}
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return err
	}
	w.Close()
	buf := make([]byte, 1)
	if n, _ := r.Read(buf); n == 1 {
		return child.Process.Release()
	}
	if err := child.Wait(); err != nil {
		return exitCode(1)
	}
	return errors.New("mount: the daemon exited before mounting")
}
