package format

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The bytes `setfacl -m u:1000:rw-` leaves on a 0644 file, as the kernel
// passes them: user::rw-, user:1000:rw-, group::r--, mask::rw-, other::r--.
var setfaclBytes = []byte{
	2, 0, 0, 0,
	0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
	0x02, 0, 6, 0, 0xe8, 0x03, 0, 0,
	0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
	0x10, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
	0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
}

func TestACLRoundTrip(t *testing.T) {
	acl, err := DecodeACL(setfaclBytes)
	require.NoError(t, err)
	require.Equal(t, ACL{{ACLUserObj, 6, ACLUndefinedID}, {ACLUser, 6, 1000}, {ACLGroupObj, 4, ACLUndefinedID},
		{ACLMask, 6, ACLUndefinedID}, {ACLOther, 4, ACLUndefinedID}}, acl)
	require.Equal(t, setfaclBytes, acl.Encode())
}

func TestACLDecodeErrors(t *testing.T) {
	for _, b := range [][]byte{nil, {2, 0, 0}, setfaclBytes[:11]} {
		_, err := DecodeACL(b)
		require.ErrorIs(t, err, ErrCorrupt, "%x", b)
		require.NotErrorIs(t, err, ErrACLVersion, "%x", b)
	}
	v1 := append([]byte{1, 0, 0, 0}, setfaclBytes[4:]...)
	_, err := DecodeACL(v1)
	require.ErrorIs(t, err, ErrACLVersion)
	require.ErrorIs(t, err, ErrCorrupt)
	acl, err := DecodeACL(setfaclBytes[:4])
	require.NoError(t, err)
	require.Empty(t, acl)
}

// FuzzACL: the POSIX ACL xattr decoder keeps the decode contract.
func FuzzACL(f *testing.F) {
	f.Add([]byte{})
	f.Add(setfaclBytes)
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := wrap(DecodeACL(data))
		requireRoundTrip(t, data, it, err)
	})
}
