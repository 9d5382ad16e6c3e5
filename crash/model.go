package crash

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"

	"github.com/cespare/xxhash/v2"

	"cowfs/fs"
)

// entry is what the model keeps of one name: enough to tell whether a
// crash state holds exactly the committed file.
type entry struct {
	Mode, Nlink, UID, GID uint32
	Size                  uint64
	Data                  uint64 // xxhash of the contents (regular files)
	Target                string // symlinks
	Xattrs                string // "name=hash;" sorted
}

// snapshot is the namespace of a filesystem: path -> entry.
type snapshot map[string]entry

// takeSnapshot walks f from the root.
func takeSnapshot(f *fs.FS) (snapshot, error) {
	s := snapshot{}
	return s, s.walk(f, f.Root(), "")
}

// walk adds every name under directory dir (at path p).
func (s snapshot) walk(f *fs.FS, dir uint64, p string) error {
	var names []fs.DirEntry
	err := f.ReadDir(dir, 0, func(e fs.DirEntry) bool { names = append(names, e); return true })
	if err != nil {
		return fmt.Errorf("readdir %s: %w", p+"/", err)
	}
	for _, e := range names {
		if err := s.add(f, e, p+"/"+e.Name); err != nil {
			return err
		}
	}
	return nil
}

// add records name e at path p, and what is under it.
func (s snapshot) add(f *fs.FS, e fs.DirEntry, p string) error {
	a, err := f.GetAttr(e.Ino)
	if err != nil {
		return fmt.Errorf("getattr %s: %w", p, err)
	}
	en := entry{Mode: a.Mode, Nlink: a.Nlink, UID: a.UID, GID: a.GID, Size: a.Size}
	if en.Xattrs, err = xattrs(f, e.Ino); err != nil {
		return fmt.Errorf("xattrs of %s: %w", p, err)
	}
	if err := fillContent(f, e, a, &en); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	s[p] = en
	if e.Mode == syscall.S_IFDIR {
		return s.walk(f, e.Ino, p)
	}
	return nil
}

// fillContent hashes a regular file's bytes or reads a symlink's target.
func fillContent(f *fs.FS, e fs.DirEntry, a fs.Attr, en *entry) error {
	var err error
	switch e.Mode {
	case syscall.S_IFREG:
		buf := make([]byte, a.Size)
		if _, err = f.Read(e.Ino, buf, 0); err == nil {
			en.Data = xxhash.Sum64(buf)
		}
	case syscall.S_IFLNK:
		en.Target, err = f.Readlink(e.Ino)
	}
	return err
}

// xattrs lists an inode's xattrs as "name=hash;" in name order.
func xattrs(f *fs.FS, ino uint64) (string, error) {
	names, err := f.ListXattr(ino)
	if err != nil {
		return "", err
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		v, err := f.GetXattr(ino, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s=%x;", n, xxhash.Sum64(v))
	}
	return b.String(), nil
}

// diff is the first difference between the model want and got, or "".
func diff(want, got snapshot) string {
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		switch {
		case !ok:
			return fmt.Sprintf("%s missing", p)
		case g != want[p]:
			return fmt.Sprintf("%s: %+v, committed %+v", p, g, want[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			return fmt.Sprintf("%s present, never committed", p)
		}
	}
	return ""
}
