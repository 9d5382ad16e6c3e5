package crash

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"cowfs/fs"
)

// The seq-1 workloads (Ace's bounded sequences of length one): a fixed
// setup, committed; one operation; one persistence point. The setup:
//
//	/A/foo   16 KiB, xattr user.x      /bar  5000 bytes
//	/B/      empty directory
var seq1Ops = []struct {
	name string
	op   func(e *Env) (uint64, error) // returns the inode to fsync
}{
	{"creat", func(e *Env) (uint64, error) { return e.create("A", "new") }},
	{"mkdir", func(e *Env) (uint64, error) { return e.mkdir("A", "sub") }},
	{"write-overwrite", func(e *Env) (uint64, error) { return e.write("A/foo", 4096, 4096) }},
	{"write-append", func(e *Env) (uint64, error) { return e.write("A/foo", 16384, 3000) }},
	{"write-unaligned", func(e *Env) (uint64, error) { return e.write("bar", 1234, 1000) }},
	{"fallocate", func(e *Env) (uint64, error) { return e.fallocate("bar", 0, 8192, 16384) }},
	{"fallocate-keep-size", func(e *Env) (uint64, error) { return e.fallocate("bar", fs.FallocKeepSize, 8192, 65536) }},
	{"punch-hole", func(e *Env) (uint64, error) {
		return e.fallocate("A/foo", fs.FallocPunchHole|fs.FallocKeepSize, 4096, 8192)
	}},
	{"link", func(e *Env) (uint64, error) { return e.link("A/foo", "B", "foolink") }},
	{"unlink", func(e *Env) (uint64, error) { return e.ino("A"), e.FS.Unlink(e.ino("A"), "foo") }},
	{"rename", func(e *Env) (uint64, error) { return e.rename("A", "foo", "A", "foo2") }},
	{"rename-over-across", func(e *Env) (uint64, error) { return e.rename("", "bar", "A", "foo") }},
	{"rename-dir", func(e *Env) (uint64, error) { return e.rename("", "B", "A", "B") }},
	{"rmdir", func(e *Env) (uint64, error) { return fs.RootIno, e.FS.Rmdir(fs.RootIno, "B") }},
	{"truncate", func(e *Env) (uint64, error) { return e.truncate("A/foo", 3000) }},
	{"setxattr", func(e *Env) (uint64, error) { return e.setxattr("A/foo", "user.y", 300) }},
	{"removexattr", func(e *Env) (uint64, error) {
		ino := e.ino("A/foo")
		return ino, e.FS.RemoveXattr(ino, "user.x")
	}},
	{"symlink", func(e *Env) (uint64, error) { return e.symlink("A", "sl", "../bar") }},
}

// Seq1 is every seq-1 workload, each with fsync and with sync as its
// persistence point.
func Seq1() []Workload {
	var out []Workload
	for _, o := range seq1Ops {
		op := o
		out = append(out, Workload{Name: "seq1/" + op.name + "/fsync", Run: func(e *Env) error {
			return e.seq1(op.name, op.op, true)
		}}, Workload{Name: "seq1/" + op.name + "/sync", Run: func(e *Env) error {
			return e.seq1(op.name, op.op, false)
		}})
	}
	return out
}

// seq1 runs the setup, the operation and its persistence point.
func (e *Env) seq1(name string, op func(*Env) (uint64, error), fsync bool) error {
	if err := e.setup(); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	e.Mark("op " + name)
	ino, err := op(e)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if fsync {
		return e.Fsync("fsync after "+name, ino)
	}
	return e.Sync("sync after " + name)
}

// setup makes the seq-1 starting tree and commits it.
func (e *Env) setup() error {
	_, err1 := e.mkdir("", "A")
	_, err2 := e.mkdir("", "B")
	_, err3 := e.create("A", "foo")
	_, err4 := e.write("A/foo", 0, 16384)
	_, err5 := e.setxattr("A/foo", "user.x", 40)
	_, err6 := e.create("", "bar")
	_, err7 := e.write("bar", 0, 5000)
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		return err
	}
	return e.Sync("setup")
}

var creator = fs.Creator{Umask: 0o022}

// ino resolves a path below the root ("" is the root); a missing name
// resolves to 0 and the operation on it fails.
func (e *Env) ino(path string) uint64 {
	ino := uint64(fs.RootIno)
	for _, n := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' }) {
		a, err := e.FS.Lookup(ino, n)
		if err != nil {
			return 0
		}
		ino = a.Ino
	}
	return ino
}

func (e *Env) create(dir, name string) (uint64, error) {
	a, err := e.FS.Create(e.ino(dir), name, 0o644, creator)
	return a.Ino, err
}

func (e *Env) mkdir(dir, name string) (uint64, error) {
	a, err := e.FS.Mkdir(e.ino(dir), name, 0o755, creator)
	return a.Ino, err
}

func (e *Env) symlink(dir, name, target string) (uint64, error) {
	a, err := e.FS.Symlink(e.ino(dir), name, target, creator)
	return a.Ino, err
}

// pattern is n bytes that differ from every other write of the workload.
func (e *Env) pattern(n int) []byte {
	e.writes++
	return bytes.Repeat([]byte{byte(e.writes*37 + 1)}, n)
}

func (e *Env) write(path string, off uint64, n int) (uint64, error) {
	ino := e.ino(path)
	_, err := e.FS.Write(ino, e.pattern(n), off)
	return ino, err
}

func (e *Env) fallocate(path string, mode uint32, off, n uint64) (uint64, error) {
	ino := e.ino(path)
	return ino, e.FS.Fallocate(ino, mode, off, n)
}

func (e *Env) link(path, dir, name string) (uint64, error) {
	ino := e.ino(path)
	_, err := e.FS.Link(ino, e.ino(dir), name)
	return ino, err
}

func (e *Env) rename(odir, oname, ndir, nname string) (uint64, error) {
	return e.ino(ndir), e.FS.Rename(e.ino(odir), oname, e.ino(ndir), nname, 0)
}

func (e *Env) truncate(path string, size uint64) (uint64, error) {
	ino := e.ino(path)
	_, err := e.FS.SetAttr(ino, fs.SetAttrIn{Size: &size})
	return ino, err
}

func (e *Env) setxattr(path, name string, n int) (uint64, error) {
	ino := e.ino(path)
	return ino, e.FS.SetXattr(ino, name, e.pattern(n), 0)
}
