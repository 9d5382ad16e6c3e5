package format

import (
	"errors"
	"fmt"
)

// POSIX ACLs are the values of two xattrs, which btrfs stores verbatim: the
// kernel's posix_acl_xattr layout (the bytes setxattr(2) passes), a header
// {le32 version = 2} and then entries {le16 tag, le16 perm, le32 id}.
const (
	ACLAccessXattr  = "system.posix_acl_access"
	ACLDefaultXattr = "system.posix_acl_default"
	ACLVersion      = 2
	aclHeaderSize   = 4
	aclEntrySize    = 8
	// ACLUndefinedID is the id of an entry without a qualifier (all but
	// ACLUser and ACLGroup).
	ACLUndefinedID = 0xffffffff
)

// ACLTag is an entry's tag; the numeric order is the order entries must
// have in a valid ACL.
type ACLTag uint16

// The tags (acl(5)).
const (
	ACLUserObj  ACLTag = 0x01 // the owner
	ACLUser     ACLTag = 0x02 // a named user (ID)
	ACLGroupObj ACLTag = 0x04 // the owning group
	ACLGroup    ACLTag = 0x08 // a named group (ID)
	ACLMask     ACLTag = 0x10 // the most any named entry or the group gets
	ACLOther    ACLTag = 0x20 // everybody else
)

// ACLEntry is one entry; Perm holds the rwx bits (4, 2, 1).
type ACLEntry struct {
	Tag  ACLTag
	Perm uint16
	ID   uint32
}

// ACL is a decoded ACL xattr: its entries, in stored order.
type ACL []ACLEntry

// ErrACLVersion marks an ACL xattr whose header is not version 2 (the
// kernel refuses it with EOPNOTSUPP).
var ErrACLVersion = errors.New("POSIX ACL xattr version")

// DecodeACL decodes an ACL xattr. It checks the layout only (header and
// whole entries); whether the entries form a valid ACL is for the caller.
func DecodeACL(b []byte) (ACL, error) {
	const what = "POSIX ACL xattr"
	if len(b) < aclHeaderSize || (len(b)-aclHeaderSize)%aclEntrySize != 0 {
		return nil, decodeErr(what, "size %d is not 4 + 8n", len(b))
	}
	r := &reader{b: b}
	if v := r.u32(); v != ACLVersion {
		return nil, fmt.Errorf("%w %d: %w", ErrACLVersion, v, decodeErr(what, "version %d, expect %d", v, ACLVersion))
	}
	acl := make(ACL, 0, r.left()/aclEntrySize)
	for r.left() > 0 {
		acl = append(acl, ACLEntry{Tag: ACLTag(r.u16()), Perm: r.u16(), ID: r.u32()})
	}
	return acl, nil
}

// Encode is the xattr value of the ACL.
func (a ACL) Encode() []byte {
	w := &writer{b: make([]byte, 0, aclHeaderSize+len(a)*aclEntrySize)}
	w.u32(ACLVersion)
	for _, e := range a {
		w.u16(uint16(e.Tag))
		w.u16(e.Perm)
		w.u32(e.ID)
	}
	return w.b
}
