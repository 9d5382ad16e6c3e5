package fuse

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
	"cowfs/transaction"
)

// The one errno table: wrapped errnos pass through, corruption is EUCLEAN,
// ENOSYS and anything unknown are EIO.
func TestErrnoTable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want gofuse.Status
	}{
		{nil, gofuse.OK},
		{fmt.Errorf("lookup: %w", syscall.ENOENT), gofuse.ENOENT},
		{fmt.Errorf("start: %w", transaction.ErrReadOnly), gofuse.EROFS},
		{fmt.Errorf("reserve: %w", syscall.ENOSPC), gofuse.Status(syscall.ENOSPC)},
		{fmt.Errorf("read block: %w", format.ErrCorrupt), gofuse.Status(syscall.EUCLEAN)},
		{syscall.ENOSYS, gofuse.EIO},
		{errors.New("something else"), gofuse.EIO},
	} {
		require.Equal(t, tc.want, errnoOf("test", tc.err), "%v", tc.err)
	}
}

// A panic in a handler is answered with EIO and does not escape.
func TestHandlerPanicIsEIO(t *testing.T) {
	r := &raw{} // no filesystem: every handler dereferences nil
	var out gofuse.AttrOut
	st := r.GetAttr(nil, &gofuse.GetAttrIn{InHeader: gofuse.InHeader{NodeId: 5}}, &out)
	require.Equal(t, gofuse.EIO, st)
	require.NotPanics(t, func() { r.Release(nil, &gofuse.ReleaseIn{}) })
}
