package alloc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoggedExtents: a log block taken with PinFree is never handed out
// and is free after Unpin; a logged data extent taken with ReserveFree
// becomes used like an allocated one; neither can take space that is not
// free.
func TestLoggedExtents(t *testing.T) {
	const ns = 16384
	a := newMkfsAlloc(t, 256*mib, ns)
	g := groupAt(t, a, 5*mib)
	used := g.Used
	at := uint64(5*mib + 20*ns)
	require.NoError(t, a.PinFree(at, ns))
	require.Error(t, a.PinFree(at, ns), "pinned already")
	require.Error(t, a.ReserveFree(5*mib, ns), "mkfs's block is used")
	blocks := fillTree(t, a, false)
	require.NotContains(t, blocks, at, "a pinned log block was handed out")
	for _, b := range blocks {
		require.NoError(t, a.Unreserve(b, ns))
	}
	require.Equal(t, uint64(ns), a.PinnedBytes())
	require.NoError(t, a.Unpin())
	require.Contains(t, fillTree(t, a, false), at, "free after Unpin")

	b := newMkfsAlloc(t, 256*mib, ns)
	at = 5*mib + 30*ns
	require.NoError(t, b.ReserveFree(at, 2*ns))
	require.NoError(t, b.ReservedToUsed(at, 2*ns))
	require.Equal(t, used+2*ns, groupAt(t, b, 5*mib).Used)
	require.NoError(t, b.Check())
}
