package tests

// Extended attribute operations of TestMountWorkload: set (with
// XATTR_CREATE and XATTR_REPLACE), get, list, remove; user.* on regular
// files and directories (the VFS refuses them elsewhere), trusted.* on
// every type as root.

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// xattrName picks a name the inode may carry; "" if none.
func (w *mountWorkload) xattrName(n *mnode) string {
	var ns []string
	if n.isReg() || n.isDir() {
		ns = append(ns, "user.")
	}
	if w.root {
		ns = append(ns, "trusted.")
	}
	if len(ns) == 0 {
		return ""
	}
	prefix := ns[w.rng.IntN(len(ns))]
	if w.rng.IntN(30) == 0 {
		return prefix + "long" + strings.Repeat("x", 200+w.rng.IntN(3)) // a few long names
	}
	return fmt.Sprintf("%sx%d", prefix, w.rng.IntN(8))
}

// xattrSize: mostly small, sometimes up to what one leaf item holds.
func (w *mountWorkload) xattrSize(name string) int {
	limit := w.nodesize - 101 - 25 - 30 - len(name) - 64 // header, item, dir item, margin
	switch r := w.rng.IntN(20); {
	case r == 0:
		return 0
	case r < 17:
		return w.rng.IntN(200)
	}
	return w.rng.IntN(min(limit, 8000))
}

func (w *mountWorkload) xattrTarget() (mlink, *mnode, string, bool) {
	l, n, ok := w.pickLink(anyNode)
	if !ok {
		return mlink{}, nil, "", false
	}
	name := w.xattrName(n)
	return l, n, name, name != ""
}

func (w *mountWorkload) opSetxattr() {
	l, n, name, ok := w.xattrTarget()
	if !ok {
		return
	}
	value := w.data(w.xattrSize(name))
	flags := []int{0, 0, 0, 0, unix.XATTR_CREATE, unix.XATTR_REPLACE}[w.rng.IntN(6)]
	_, exists := n.xattrs[name]
	var want syscall.Errno
	switch {
	case flags == unix.XATTR_CREATE && exists:
		want = syscall.EEXIST
	case flags == unix.XATTR_REPLACE && !exists:
		want = syscall.ENODATA
	}
	w.note("lsetxattr %s %s (%d bytes) flags %d", w.m.linkPath(l), name, len(value), flags)
	if w.check(unix.Lsetxattr(w.path(l.dir, l.name), name, value, flags), want) {
		n.xattrs[name] = append([]byte{}, value...)
	}
}

func (w *mountWorkload) opGetxattr() {
	l, n, name, ok := w.xattrTarget()
	if !ok {
		return
	}
	want, exists := n.xattrs[name]
	w.note("lgetxattr %s %s", w.m.linkPath(l), name)
	buf := make([]byte, len(want)+1) // small: -race instruments the whole buffer
	k, err := unix.Lgetxattr(w.path(l.dir, l.name), name, buf)
	if !exists {
		w.check(err, syscall.ENODATA)
		return
	}
	w.check(err, 0)
	if !bytes.Equal(buf[:k], want) {
		w.fail("lgetxattr %s %s: %d bytes differ from the model's %d", w.m.linkPath(l), name, k, len(want))
	}
}

func (w *mountWorkload) opListxattr() {
	l, n, ok := w.pickLink(anyNode)
	if !ok {
		return
	}
	w.note("llistxattr %s", w.m.linkPath(l))
	got, err := listXattrNames(w.path(l.dir, l.name))
	w.check(err, 0)
	if want := sortedKeys(n.xattrs); !slices.Equal(got, want) {
		w.fail("llistxattr %s: %q, want %q", w.m.linkPath(l), got, want)
	}
}

func (w *mountWorkload) opRemovexattr() {
	l, n, name, ok := w.xattrTarget()
	if !ok {
		return
	}
	var want syscall.Errno
	if _, exists := n.xattrs[name]; !exists {
		want = syscall.ENODATA
	}
	w.note("lremovexattr %s %s", w.m.linkPath(l), name)
	if w.check(unix.Lremovexattr(w.path(l.dir, l.name), name), want) {
		delete(n.xattrs, name)
	}
}

// listXattrNames is llistxattr's names, sorted. The buffer is sized to
// the list (-race instruments every byte a syscall may write).
func listXattrNames(p string) ([]string, error) {
	buf := make([]byte, 4096)
	k, err := unix.Llistxattr(p, buf)
	if err == unix.ERANGE {
		if k, err = unix.Llistxattr(p, nil); err == nil {
			buf = make([]byte, k)
			k, err = unix.Llistxattr(p, buf)
		}
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range strings.Split(string(buf[:k]), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	return names, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
