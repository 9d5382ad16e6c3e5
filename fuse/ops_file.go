package fuse

import (
	"syscall"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"cowfs/fs"
)

func (r *raw) Open(_ <-chan struct{}, in *gofuse.OpenIn, out *gofuse.OpenOut) (st gofuse.Status) {
	defer recovered("open", &st)
	ino := r.ino(in.NodeId)
	if in.Flags&syscall.O_TRUNC != 0 {
		zero := uint64(0)
		if _, err := r.fs.SetAttr(ino, fs.SetAttrIn{Size: &zero}); err != nil {
			return errnoOf("open", err)
		}
	}
	if err := r.fs.OpenFile(ino); err != nil {
		return errnoOf("open", err)
	}
	out.Fh = r.nextFh.Add(1)
	return gofuse.OK
}

func (r *raw) Release(_ <-chan struct{}, in *gofuse.ReleaseIn) {
	defer recovered("release", nil)
	r.locks.release(r.ino(in.NodeId), in.Fh)
	if err := r.fs.ReleaseFile(r.ino(in.NodeId)); err != nil {
		errnoOf("release", err)
	}
}

func (r *raw) Read(_ <-chan struct{}, in *gofuse.ReadIn, buf []byte) (_ gofuse.ReadResult, st gofuse.Status) {
	defer recovered("read", &st)
	n, err := r.fs.Read(r.ino(in.NodeId), buf[:in.Size], in.Offset)
	if err != nil {
		return nil, errnoOf("read", err)
	}
	return gofuse.ReadResultData(buf[:n]), gofuse.OK
}

func (r *raw) Write(_ <-chan struct{}, in *gofuse.WriteIn, data []byte) (_ uint32, st gofuse.Status) {
	defer recovered("write", &st)
	n, err := r.fs.Write(r.ino(in.NodeId), data, in.Offset)
	if err != nil {
		return uint32(n), errnoOf("write", err)
	}
	return uint32(n), gofuse.OK
}

// Flush (close(2) of one descriptor) has nothing to do: data reaches the
// image at fsync and commit, and locks belong to the open and go at
// RELEASE. ENOSYS tells the kernel so, once: it sends no more FLUSH
// requests on this mount (fuse_flush's no_flush) and close(2) returns
// success — one synchronous round trip fewer per close, three requests
// per create instead of four. (With --writeback-cache the kernel still
// writes a file's dirty pages at close, before it would have sent FLUSH.)
func (r *raw) Flush(_ <-chan struct{}, _ *gofuse.FlushIn) gofuse.Status { return gofuse.ENOSYS }

func (r *raw) Fsync(_ <-chan struct{}, in *gofuse.FsyncIn) (st gofuse.Status) {
	defer recovered("fsync", &st)
	return errnoOf("fsync", r.fs.Fsync(r.ino(in.NodeId)))
}

func (r *raw) Fallocate(_ <-chan struct{}, in *gofuse.FallocateIn) (st gofuse.Status) {
	defer recovered("fallocate", &st)
	return errnoOf("fallocate", r.fs.Fallocate(r.ino(in.NodeId), in.Mode, in.Offset, in.Length))
}

// Lseek answers SEEK_DATA and SEEK_HOLE as for a file without holes (data
// up to EOF, a hole at EOF), which is what the kernel's generic code does.
func (r *raw) Lseek(_ <-chan struct{}, in *gofuse.LseekIn, out *gofuse.LseekOut) (st gofuse.Status) {
	defer recovered("lseek", &st)
	a, err := r.fs.GetAttr(r.ino(in.NodeId))
	if err != nil {
		return errnoOf("lseek", err)
	}
	if in.Offset >= a.Size && !(in.Whence == seekHole && in.Offset == a.Size) {
		return gofuse.Status(syscall.ENXIO)
	}
	switch in.Whence {
	case seekData:
		out.Offset = in.Offset
	case seekHole:
		out.Offset = a.Size
	default:
		return gofuse.EINVAL
	}
	return gofuse.OK
}

const (
	seekData = 3
	seekHole = 4
)

// CopyFileRange is not offered: EOPNOTSUPP makes the kernel copy through
// read and write.
func (r *raw) CopyFileRange(_ <-chan struct{}, _ *gofuse.CopyFileRangeIn) (uint32, gofuse.Status) {
	return 0, notSupported()
}
