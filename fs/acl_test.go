package fs

import (
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

// aclText parses the short text form of an ACL ("u::rw,u:1000:rwx,g::r,
// m::rw,o::-") in the order given.
func aclText(t *testing.T, s string) format.ACL {
	t.Helper()
	tags := map[string][2]format.ACLTag{"u": {format.ACLUserObj, format.ACLUser},
		"g": {format.ACLGroupObj, format.ACLGroup}, "m": {format.ACLMask}, "o": {format.ACLOther}}
	var acl format.ACL
	for _, f := range strings.Split(s, ",") {
		p := strings.Split(f, ":")
		require.Len(t, p, 3, f)
		e := format.ACLEntry{Tag: tags[p[0]][0], ID: format.ACLUndefinedID}
		if p[1] != "" {
			id, err := strconv.Atoi(p[1])
			require.NoError(t, err)
			e.Tag, e.ID = tags[p[0]][1], uint32(id)
		}
		for i, c := range "rwx" {
			if strings.ContainsRune(p[2], c) {
				e.Perm |= 4 >> i
			}
		}
		acl = append(acl, e)
	}
	return acl
}

// file creates a file in the root directory with mode.
func (tf *testFS) file(t *testing.T, name string, mode uint32) uint64 {
	t.Helper()
	a, err := tf.Create(tf.Root(), name, mode, Creator{})
	require.NoError(t, err)
	return a.Ino
}

func (tf *testFS) mode(t *testing.T, ino uint64) uint32 {
	t.Helper()
	a, err := tf.GetAttr(ino)
	require.NoError(t, err)
	return a.Mode &^ syscall.S_IFMT
}

// requireACL checks the ACL xattr name of ino: want "" for none.
func (tf *testFS) requireACL(t *testing.T, ino uint64, name, want string) {
	t.Helper()
	v, err := tf.GetXattr(ino, name)
	if want == "" {
		requireErrno(t, err, syscall.ENODATA, "%s of inode %d", name, ino)
		return
	}
	require.NoError(t, err)
	require.Equal(t, aclText(t, want).Encode(), v, "%s of inode %d", name, ino)
}

func TestACLRules(t *testing.T) {
	for _, bad := range []string{
		"u::rw,g::r",                        // no other
		"g::r,u::rw,o::r",                   // out of order
		"u::rw,u::r,g::r,o::r",              // two owners
		"u::rw,u:5:r,g::r,o::r",             // named without mask
		"u::rw,u:5:r,u:5:w,g::r,m::rw,o::r", // one user twice
		"u::rw,u:6:r,u:5:w,g::r,m::rw,o::r", // ids out of order
		"u::rw,g::r,m::r,m::r,o::r",         // two masks
		"u::rw,g::r,o::r,o::r",              // two others
		"u::rw,g::r,g:1:r,g::w,m::rw,o::r",  // group after named groups
		"u::rw,g::r,o::r,m::r",              // mask after other
	} {
		require.Error(t, validACL(aclText(t, bad)), bad)
	}
	bad := aclText(t, "u::rw,g::r,o::r")
	bad[0].Perm = 8
	require.Error(t, validACL(bad))
	bad[0].Perm, bad[1].Tag = 6, 0x40
	require.Error(t, validACL(bad))
	named := aclText(t, "u::rw,u:1:r,g::r,m::r,o::r")
	named[1].ID = format.ACLUndefinedID
	require.Error(t, validACL(named))
	for _, good := range []string{"u::rw,g::r,o::r", "u::rwx,g::r,m::rwx,o::", "u::rw,u:1:r,u:2:w,g::r,g:0:x,g:7:r,m::rw,o::r"} {
		require.NoError(t, validACL(aclText(t, good)), good)
	}
	mode, minimal := aclMode(aclText(t, "u::rw,u:1:rwx,g::r,m::rx,o::x"), syscall.S_IFREG|0o4777)
	require.Equal(t, uint32(syscall.S_IFREG|0o4651), mode)
	require.False(t, minimal)
	require.Equal(t, aclText(t, "u::rwx,u:1:rwx,g::r,m::x,o::w"), aclChmod(aclText(t, "u::rw,u:1:rwx,g::r,m::rx,o::x"), 0o712))
	require.Equal(t, aclText(t, "u::x,g::r,o::"), aclChmod(aclText(t, "u::rw,g::rwx,o::x"), 0o140))
}

// Setting an access ACL sets the mode; a minimal one is stored as the mode
// alone (the kernel's posix_acl_update_mode); chmod rewrites the ACL.
func TestACLAccess(t *testing.T) {
	tf := newTestFS(t)
	f := Attr{Ino: tf.file(t, "f", 0o600)}
	require.NoError(t, tf.SetXattr(f.Ino, format.ACLAccessXattr, aclText(t, "u::rw,g::r,o::r").Encode(), 0))
	require.Equal(t, uint32(0o644), tf.mode(t, f.Ino))
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, "")
	names, err := tf.ListXattr(f.Ino)
	require.NoError(t, err)
	require.Empty(t, names)

	full := "u::rw,u:1000:rwx,g::r,g:50:w,m::rw,o::"
	require.NoError(t, tf.SetXattr(f.Ino, format.ACLAccessXattr, aclText(t, full).Encode(), XattrCreate))
	require.Equal(t, uint32(0o660), tf.mode(t, f.Ino))
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, full)

	_, err = tf.SetAttr(f.Ino, SetAttrIn{Mode: ptr(uint32(0o751))})
	require.NoError(t, err)
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, "u::rwx,u:1000:rwx,g::r,g:50:w,m::rx,o::x")
	tf.reopen()
	require.Equal(t, uint32(0o751), tf.mode(t, f.Ino))
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, "u::rwx,u:1000:rwx,g::r,g:50:w,m::rx,o::x")

	// An ACL set back to minimal goes; removing keeps the mode.
	require.NoError(t, tf.SetXattr(f.Ino, format.ACLAccessXattr, aclText(t, "u::r,g::w,o::x").Encode(), 0))
	require.Equal(t, uint32(0o421), tf.mode(t, f.Ino))
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, "")
	require.NoError(t, tf.SetXattr(f.Ino, format.ACLAccessXattr, aclText(t, full).Encode(), 0))
	require.NoError(t, tf.RemoveXattr(f.Ino, format.ACLAccessXattr))
	require.Equal(t, uint32(0o660), tf.mode(t, f.Ino))
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, "")
	require.NoError(t, tf.RemoveXattr(f.Ino, format.ACLAccessXattr), "removing no ACL succeeds, as in btrfs")
	require.NoError(t, tf.SetXattr(f.Ino, format.ACLAccessXattr, aclText(t, full).Encode(), 0))
	require.NoError(t, tf.SetXattr(f.Ino, format.ACLAccessXattr, []byte{2, 0, 0, 0}, 0), "an empty ACL removes")
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, "")
	// chmod of a file without an ACL stores none.
	_, err = tf.SetAttr(f.Ino, SetAttrIn{Mode: ptr(uint32(0o700))})
	require.NoError(t, err)
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, "")
}

func ptr[T any](v T) *T { return &v }

// The errors the kernel gives for bad ACLs and default ACLs on files.
func TestACLErrors(t *testing.T) {
	tf := newTestFS(t)
	f := Attr{Ino: tf.file(t, "f", 0o644)}
	set := func(name string, v []byte) error { return tf.SetXattr(f.Ino, name, v, 0) }
	requireErrno(t, set(format.ACLDefaultXattr, aclText(t, "u::rw,g::r,o::r").Encode()), syscall.EACCES)
	require.NoError(t, set(format.ACLDefaultXattr, nil), "no default ACL on a file: nothing to remove")
	require.NoError(t, tf.RemoveXattr(f.Ino, format.ACLDefaultXattr))
	requireErrno(t, set(format.ACLAccessXattr, []byte{2, 0, 0, 0, 1}), syscall.EINVAL)
	requireErrno(t, set(format.ACLAccessXattr, append([]byte{3, 0, 0, 0}, aclText(t, "u::rw,g::r,o::r").Encode()[4:]...)), syscall.EOPNOTSUPP)
	requireErrno(t, set(format.ACLAccessXattr, aclText(t, "u::rw,u:3:r,g::r,o::r").Encode()), syscall.EINVAL)
	requireErrno(t, set("system.posix_acl_accessx", []byte{1}), syscall.EOPNOTSUPP)
	requireErrno(t, set(format.ACLAccessXattr+"\x00", []byte{1}), syscall.EOPNOTSUPP)
	require.Equal(t, uint32(0o644), tf.mode(t, f.Ino))
}

// XattrKillSGID clears the setgid bit with an access ACL (FUSE's
// SETXATTR_ACL_KILL_SGID), minimal or not.
func TestACLKillSGID(t *testing.T) {
	tf := newTestFS(t)
	f := Attr{Ino: tf.file(t, "f", 0o2770)}
	require.NoError(t, tf.SetXattr(f.Ino, format.ACLAccessXattr, aclText(t, "u::rwx,g::rx,o::").Encode(), 0))
	require.Equal(t, uint32(0o2750), tf.mode(t, f.Ino))
	require.NoError(t, tf.SetXattr(f.Ino, format.ACLAccessXattr, aclText(t, "u::rwx,g::rx,o::").Encode(), XattrKillSGID))
	require.Equal(t, uint32(0o750), tf.mode(t, f.Ino))
}

// New inodes inherit a directory's default ACL instead of the umask
// (posix_acl_create); symlinks inherit nothing.
func TestACLInherit(t *testing.T) {
	tf := newTestFS(t)
	c := Creator{UID: 7, GID: 8, Umask: 0o027}
	plain, err := tf.Mkdir(tf.Root(), "plain", 0o777, c)
	require.NoError(t, err)
	require.Equal(t, uint32(0o750), tf.mode(t, plain.Ino), "no default ACL: the umask applies")
	def := "u::rwx,u:1000:rwx,g::rx,m::rwx,o::"
	d, err := tf.Mkdir(tf.Root(), "d", 0o755, c)
	require.NoError(t, err)
	require.NoError(t, tf.SetXattr(d.Ino, format.ACLDefaultXattr, aclText(t, def).Encode(), 0))
	require.Equal(t, uint32(0o750), tf.mode(t, d.Ino), "a default ACL leaves the mode")

	f, err := tf.Create(d.Ino, "f", 0o666, c)
	require.NoError(t, err)
	require.Equal(t, uint32(0o660), tf.mode(t, f.Ino))
	require.Equal(t, uint32(7), f.UID)
	tf.requireACL(t, f.Ino, format.ACLAccessXattr, "u::rw,u:1000:rwx,g::rx,m::rw,o::")
	tf.requireACL(t, f.Ino, format.ACLDefaultXattr, "")
	sub, err := tf.Mkdir(d.Ino, "sub", 0o777, c)
	require.NoError(t, err)
	require.Equal(t, uint32(0o770), tf.mode(t, sub.Ino))
	tf.requireACL(t, sub.Ino, format.ACLAccessXattr, def)
	tf.requireACL(t, sub.Ino, format.ACLDefaultXattr, def)
	fifo, err := tf.Mknod(sub.Ino, "fifo", syscall.S_IFIFO|0o640, 0, c)
	require.NoError(t, err)
	require.Equal(t, uint32(0o640), tf.mode(t, fifo.Ino))
	tf.requireACL(t, fifo.Ino, format.ACLAccessXattr, "u::rw,u:1000:rwx,g::rx,m::r,o::")
	s, err := tf.Symlink(d.Ino, "s", "f", c)
	require.NoError(t, err)
	require.Equal(t, uint32(0o777), tf.mode(t, s.Ino))
	tf.requireACL(t, s.Ino, format.ACLAccessXattr, "")

	// A minimal default ACL gives a mode and no access ACL.
	require.NoError(t, tf.SetXattr(plain.Ino, format.ACLDefaultXattr, aclText(t, "u::rwx,g::rx,o::rx").Encode(), 0))
	g, err := tf.Create(plain.Ino, "g", 0o666, Creator{Umask: 0o077})
	require.NoError(t, err)
	require.Equal(t, uint32(0o644), tf.mode(t, g.Ino))
	tf.requireACL(t, g.Ino, format.ACLAccessXattr, "")
	// Removing the default ACL brings the umask back.
	require.NoError(t, tf.RemoveXattr(plain.Ino, format.ACLDefaultXattr))
	h, err := tf.Create(plain.Ino, "h", 0o666, Creator{Umask: 0o077})
	require.NoError(t, err)
	require.Equal(t, uint32(0o600), tf.mode(t, h.Ino))
	tf.reopen()
	tf.requireACL(t, sub.Ino, format.ACLDefaultXattr, def)
	tf.requireACL(t, fifo.Ino, format.ACLAccessXattr, "u::rw,u:1000:rwx,g::rx,m::r,o::")
}
