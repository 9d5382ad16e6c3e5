package tests

// Kernel round trips of the transaction workload: the closed image is
// loop-mounted read-write (noatime, so reading changes nothing), the
// kernel must list a sample of our directories and read a sample of our
// xattrs exactly as the model has them, then it writes a file and a
// directory; after the unmount the oracles check the image, cowfs reopens
// it, and the model adopts exactly what the kernel added.

import (
	"bytes"
	"cowfs/testmount"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/stretchr/testify/require"
)

func (w *txnWorkload) kernelRoundTrip(tx int) {
	if !kernelAvailable(w.t) {
		return
	}
	w.closeFS()
	mnt, umount := w.mountRW()
	w.kernelReads(mnt)
	k := newKernelNames(tx)
	w.kernelWrites(mnt, k)
	umount()
	w.oracles()
	w.openFS()
	w.adoptKernel(k)
	w.compareModel()
	w.totals.kernelRuns++
}

// kernelNames are what the kernel adds to the root directory: a small
// file (inline extent), a 64 KiB file (a data extent with checksums,
// which cowfs must account for but the workload never unlinks) and a
// directory.
type kernelNames struct{ file, data, dir string }

func newKernelNames(tx int) kernelNames {
	return kernelNames{file: fmt.Sprintf("kernel-file-%d", tx), data: fmt.Sprintf("kernel-data-%d", tx),
		dir: fmt.Sprintf("kernel-dir-%d", tx)}
}

func (k kernelNames) has(name string) bool { return name == k.file || name == k.data || name == k.dir }

// nameBytes is what the names add to the root directory's size.
func (k kernelNames) nameBytes() uint64 { return uint64(2 * (len(k.file) + len(k.data) + len(k.dir))) }

// kernelWrites makes the kernel write k's files and directory.
func (w *txnWorkload) kernelWrites(mnt string, k kernelNames) {
	require.NoError(w.t, os.WriteFile(filepath.Join(mnt, k.file), bytes.Repeat([]byte("k"), 100), 0o644))
	require.NoError(w.t, os.WriteFile(filepath.Join(mnt, k.data), randomBytes(w.rng, 64<<10), 0o644))
	require.NoError(w.t, os.Mkdir(filepath.Join(mnt, k.dir), 0o755))
	require.NoError(w.t, testmount.Sync(mnt))
}

// mountRW loop-mounts the image read-write with noatime; the unmount
// also runs at cleanup if a failure comes first.
func (w *txnWorkload) mountRW() (string, func()) {
	mnt := filepath.Join(w.t.TempDir(), "mnt")
	require.NoError(w.t, os.Mkdir(mnt, 0o755))
	r := runCmd(w.t, "mount", "-o", "loop,noatime", w.path, mnt)
	require.Equal(w.t, 0, r.Code, "mount (seed %d): %s%s\n%s", w.seed, r.Stdout, r.Stderr, dmesgTail())
	var once sync.Once
	umount := func() { once.Do(func() { unmount(w.t, mnt) }) }
	w.t.Cleanup(umount)
	return mnt, umount
}

// kernelReads compares a sample of directories (their names) and xattrs
// (names and values) as the kernel reads them with the model.
func (w *txnWorkload) kernelReads(mnt string) {
	dirs := w.ns.allDirs()
	perm := w.rng.Perm(len(dirs))
	xattrs := 0
	for _, i := range perm[:min(16, len(perm))] {
		d := dirs[i]
		w.kernelListDir(mnt, d)
		for _, in := range append([]*txnInode{d}, d.dir.files...) {
			if xattrs < 200 {
				xattrs += w.kernelXattrs(mnt, in)
			}
		}
	}
	w.totals.kernelXattrs += xattrs
}

// kernelListDir requires the kernel's listing of d to be d's names.
func (w *txnWorkload) kernelListDir(mnt string, d *txnInode) {
	ents, err := os.ReadDir(filepath.Join(mnt, d.dir.path))
	require.NoError(w.t, err, "kernel readdir %v (seed %d)\n%s", d, w.seed, dmesgTail())
	var got, want []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	for name := range d.dir.names {
		want = append(want, name)
	}
	require.ElementsMatch(w.t, want, got, "kernel listing of %v (seed %d)", d, w.seed)
}

// kernelXattrs requires the kernel to list in's xattrs and read each
// value as the model has it; it returns how many it read.
func (w *txnWorkload) kernelXattrs(mnt string, in *txnInode) int {
	p := filepath.Join(mnt, in.relPath())
	names, err := listXattrs(p)
	require.NoError(w.t, err, "kernel listxattr %v (seed %d)\n%s", in, w.seed, dmesgTail())
	require.ElementsMatch(w.t, in.xattrs, names, "kernel xattr names of %v (seed %d)", in, w.seed)
	buf := make([]byte, 64<<10)
	for _, name := range in.xattrs {
		n, err := syscall.Getxattr(p, name, buf)
		require.NoError(w.t, err, "kernel getxattr %q of %v (seed %d)\n%s", name, in, w.seed, dmesgTail())
		require.Equal(w.t, w.xattrValue(in, name), buf[:n], "kernel value of %q of %v (seed %d)", name, in, w.seed)
	}
	return len(in.xattrs)
}

// xattrValue is the model's value of xattr name of in.
func (w *txnWorkload) xattrValue(in *txnInode, name string) []byte {
	es, err := w.main.entries(in.tree, xattrKey(in.ino, name))
	require.NoError(w.t, err)
	i := entryIndex(es, name)
	require.GreaterOrEqual(w.t, i, 0, "xattr %q of %v missing from the model", name, in)
	if es[i].Data == nil {
		return []byte{}
	}
	return es[i].Data
}

// listXattrs returns the xattr names of the file at p.
func listXattrs(p string) ([]string, error) {
	n, err := syscall.Listxattr(p, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if n, err = syscall.Listxattr(p, buf); err != nil {
		return nil, err
	}
	var names []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	return names, nil
}
