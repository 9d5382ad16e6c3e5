package fs

import (
	"errors"
	"fmt"
	"syscall"

	"cowfs/disk/format"
)

// POSIX ACLs (acl(5)), with the kernel's rules. The permission bits of the
// mode are three entries of the access ACL: owner = ACL_USER_OBJ, group =
// ACL_MASK when there is one (else ACL_GROUP_OBJ), other = ACL_OTHER.
// Changing either side changes the other. An ACL that is only those three
// entries says no more than the mode: it is not stored (minimal).

// aclPerm is the rwx part of a mode's class.
const aclPerm = 0o7

// parseACL decodes and validates an ACL xattr value: nil for an empty one
// (no entries, or no bytes at all: setting it removes the ACL). EINVAL for
// a malformed or invalid ACL, EOPNOTSUPP for a version other than 2, as
// the kernel's posix_acl_from_xattr and posix_acl_valid.
func parseACL(op string, ino uint64, value []byte) (format.ACL, error) {
	if len(value) == 0 {
		return nil, nil
	}
	acl, err := format.DecodeACL(value)
	if errors.Is(err, format.ErrACLVersion) {
		return nil, opError(op, ino, "", syscall.EOPNOTSUPP, err.Error())
	}
	if err == nil && len(acl) == 0 {
		return nil, nil
	}
	if err == nil {
		err = validACL(acl)
	}
	if err != nil {
		return nil, opError(op, ino, "", syscall.EINVAL, err.Error())
	}
	return acl, nil
}

// validACL: entries sorted by tag, then id; exactly one owner, group and
// other entry; named users and groups with distinct ids, and then a mask;
// permissions rwx only.
func validACL(acl format.ACL) error {
	var prev format.ACLEntry
	var seen format.ACLTag
	for i, e := range acl {
		if e.Perm&^aclPerm != 0 {
			return fmt.Errorf("ACL entry %d: permissions %#o", i, e.Perm)
		}
		if err := validOrder(i, prev, e); err != nil {
			return err
		}
		prev, seen = e, seen|e.Tag
	}
	const need = format.ACLUserObj | format.ACLGroupObj | format.ACLOther
	switch {
	case seen&need != need:
		return errors.New("ACL lacks the owner, group or other entry")
	case seen&(format.ACLUser|format.ACLGroup) != 0 && seen&format.ACLMask == 0:
		return errors.New("ACL with named entries lacks a mask")
	}
	return nil
}

// validOrder checks entry i against the one before it.
func validOrder(i int, prev, e format.ACLEntry) error {
	named := e.Tag == format.ACLUser || e.Tag == format.ACLGroup
	switch e.Tag {
	case format.ACLUserObj, format.ACLUser, format.ACLGroupObj, format.ACLGroup, format.ACLMask, format.ACLOther:
	default:
		return fmt.Errorf("ACL entry %d: tag %#x", i, e.Tag)
	}
	switch {
	case named && e.ID == format.ACLUndefinedID:
		return fmt.Errorf("ACL entry %d: no id", i)
	case i == 0 || e.Tag > prev.Tag:
		return nil
	case named && e.Tag == prev.Tag && e.ID > prev.ID:
		return nil
	}
	return fmt.Errorf("ACL entry %d (tag %#x id %d) out of order or repeated", i, e.Tag, e.ID)
}

// aclClass returns the index of the entry that stands for a class of the
// mode (shift 6 owner, 3 group, 0 other), or -1.
func aclClass(acl format.ACL, shift uint) int {
	at := -1
	for i, e := range acl {
		switch {
		case shift == 6 && e.Tag == format.ACLUserObj,
			shift == 3 && (e.Tag == format.ACLGroupObj || e.Tag == format.ACLMask), // a mask comes later, and wins
			shift == 0 && e.Tag == format.ACLOther:
			at = i
		}
	}
	return at
}

var aclShifts = []uint{6, 3, 0}

// aclMode returns mode with its permission bits taken from an access ACL,
// and whether the ACL is minimal (the mode says all of it).
func aclMode(acl format.ACL, mode uint32) (uint32, bool) {
	mode &^= 0o777
	for _, s := range aclShifts {
		if i := aclClass(acl, s); i >= 0 {
			mode |= uint32(acl[i].Perm&aclPerm) << s
		}
	}
	return mode, len(acl) == 3
}

// aclChmod returns a copy of an access ACL whose entries match the
// permission bits of mode (chmod of a file with an ACL).
func aclChmod(acl format.ACL, mode uint32) format.ACL {
	out := append(format.ACL(nil), acl...)
	for _, s := range aclShifts {
		if i := aclClass(out, s); i >= 0 {
			out[i].Perm = uint16(mode>>s) & aclPerm
		}
	}
	return out
}

// aclInherit is what a new inode gets in a directory with default ACL def
// when created with mode: the access ACL (def with each class entry
// limited to mode's bits; nil when minimal) and the mode, whose
// permission bits are what the class entries allow.
func aclInherit(def format.ACL, mode uint32) (format.ACL, uint32) {
	acl := append(format.ACL(nil), def...)
	for _, s := range aclShifts {
		if i := aclClass(acl, s); i >= 0 {
			acl[i].Perm &= uint16(mode>>s) & aclPerm
		}
	}
	mode, minimal := aclMode(acl, mode)
	if minimal {
		return nil, mode
	}
	return acl, mode
}

func isACLName(name string) bool {
	return name == format.ACLAccessXattr || name == format.ACLDefaultXattr
}
