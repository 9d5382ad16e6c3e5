package fuse

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The status layout round-trips; a long reason is cut, never overflows.
func TestStatusEncoding(t *testing.T) {
	buf := make([]byte, StatusSize)
	for _, s := range []Status{{PID: 4242}, {PID: 7, Aborted: "commit of transaction 9: no space left on device"}} {
		EncodeStatus(s, buf)
		require.Equal(t, s, DecodeStatus(buf))
	}
	long := Status{PID: 1, Aborted: strings.Repeat("x", 2*StatusSize)}
	EncodeStatus(long, buf)
	got := DecodeStatus(buf)
	require.Equal(t, strings.Repeat("x", StatusSize-9), got.Aborted)
	EncodeStatus(Status{PID: 2}, buf)
	require.Equal(t, Status{PID: 2}, DecodeStatus(buf), "a longer earlier status leaves nothing behind")
	require.Equal(t, uint32(StatusSize), uint32(StatusIoctl>>16)&0x3fff, "the size field of _IOR")
}
