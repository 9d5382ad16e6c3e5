package disk

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestZonedDeviceRefusesRewriteUntilReset(t *testing.T) {
	z := NewZonedDevice(NewMemDevice(1<<20), 4096)
	require.True(t, IsZoned(z))
	require.False(t, IsZoned(NewMemDevice(4096)))
	b := make([]byte, 8192)
	require.NoError(t, z.WriteAt(b, 0, KindMeta))
	require.NoError(t, z.WriteAt(b, 0, KindData), "data is not constrained")
	require.NoError(t, z.WriteAt(b, 0, KindSuper), "superblocks are not constrained")
	err := z.WriteAt(b[:4096], 4096, KindMeta)
	require.ErrorIs(t, err, ErrZonedRewrite)
	require.ErrorContains(t, err, "physical 4096")
	require.ErrorIs(t, z.WriteAt(b, 4096, KindMeta), ErrZonedRewrite, "refused whole")
	require.NoError(t, z.WriteAt(b[:4096], 8192, KindMeta), "the refused write recorded nothing")
	z.Reset(0, 8192)
	require.NoError(t, z.WriteAt(b, 0, KindMeta))
	require.ErrorIs(t, z.WriteAt(b[:4096], 8192, KindMeta), ErrZonedRewrite, "outside the reset zone")
}
