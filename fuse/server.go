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
	// DefaultPermissions makes the kernel check permissions from the
	// modes (cowfs itself checks none).
	DefaultPermissions bool
	// Debug logs every FUSE request.
	Debug bool
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
	mo := &gofuse.MountOptions{
		AllowOther: opts.AllowOther, FsName: "cowfs", Name: "cowfs", Debug: opts.Debug,
		MaxWrite: 1 << 20, DirectMount: true, EnableLocks: true,
	}
	if opts.DefaultPermissions {
		mo.Options = append(mo.Options, "default_permissions")
	}
	if f.ReadOnly() {
		mo.Options = append(mo.Options, "ro")
	}
	srv, err := gofuse.NewServer(newRaw(f), mnt, mo)
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
