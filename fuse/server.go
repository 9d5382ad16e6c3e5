package fuse

import (
	"errors"
	"fmt"
	"path/filepath"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"cowfs/fs"
)

// Options configure a mount.
type Options struct {
	// AllowOther lets other users than the mounter use the mount.
	AllowOther bool
	// NoPermissionChecks turns the kernel's checks off (FUSE
	// default_permissions and POSIX_ACL): anyone who reaches the mount may
	// do anything; cowfs itself checks nothing. Refused with AllowOther.
	NoPermissionChecks bool
	// WritebackCache lets the kernel cache writes in its page cache and
	// send them later, in large WRITEs (FUSE writeback_cache): write(2)
	// returns at memory speed, the kernel keeps size and mtime, and a
	// write's error (ENOSPC) shows at fsync, close or sync instead of at
	// write(2).
	WritebackCache bool
	// Debug logs every FUSE request.
	Debug bool
}

// ErrUncheckedOther refuses a mount that other users could use without
// permission checks.
var ErrUncheckedOther = errors.New("other users (allow_other) need permission checks")

// mountOptions are go-fuse's options for opts. With permission checks the
// kernel checks modes and POSIX ACLs (POSIX_ACL implies
// default_permissions; it reads ACLs with GETXATTR, and leaves the
// mode's update on SETXATTR to the daemon, told by SETXATTR_EXT's flag
// when to clear the setgid bit). Either way the kernel passes the umask
// on (DONT_MASK): the filesystem applies it or a default ACL.
func mountOptions(opts Options, readOnly bool) *gofuse.MountOptions {
	mo := &gofuse.MountOptions{
		AllowOther: opts.AllowOther, FsName: "cowfs", Name: "cowfs", Debug: opts.Debug,
		MaxWrite: 1 << 20, DirectMount: true, EnableLocks: true,
		ExtraCapabilities: gofuse.CAP_DONT_MASK | gofuse.CAP_SETXATTR_EXT,
	}
	if !opts.NoPermissionChecks {
		mo.EnableAcl = true
		mo.Options = append(mo.Options, "default_permissions")
	}
	if readOnly {
		mo.Options = append(mo.Options, "ro")
	}
	if opts.WritebackCache && !readOnly {
		mo.ExtraCapabilities |= gofuse.CAP_WRITEBACK_CACHE
	}
	return mo
}

// Server is a mounted cowfs filesystem.
type Server struct {
	srv *gofuse.Server
	fs  *fs.FS
	mnt string
}

// Mount mounts f on mountpoint (directly, as root; through fusermount3
// otherwise) and starts serving it in the background; Wait returns when
// it is unmounted.
func Mount(f *fs.FS, mountpoint string, opts Options) (*Server, error) {
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return nil, err
	}
	if opts.AllowOther && opts.NoPermissionChecks {
		return nil, fmt.Errorf("mount %s: %w", mnt, ErrUncheckedOther)
	}
	srv, err := gofuse.NewServer(newRaw(f), mnt, mountOptions(opts, f.ReadOnly()))
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mnt, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return nil, errors.Join(fmt.Errorf("mount %s: %w", mnt, err), srv.Unmount())
	}
	return &Server{srv: srv, fs: f, mnt: mnt}, nil
}

// Mountpoint is the absolute path of the mount.
func (s *Server) Mountpoint() string { return s.mnt }

// Wait blocks until the filesystem is unmounted.
func (s *Server) Wait() { s.srv.Wait() }

// Unmount detaches the mount (failing with EBUSY while it is in use).
func (s *Server) Unmount() error { return s.srv.Unmount() }
