package format

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLayoutSizes(t *testing.T) {
	require.Equal(t, SuperSize, binary.Size(&Super{}))
	require.Equal(t, DevItemSize, binary.Size(&DevItem{}))
	require.Equal(t, 168, binary.Size(&BackupRoot{}))
	require.Equal(t, InodeItemSize, binary.Size(&InodeItem{}))
	require.Equal(t, RootItemSize, binary.Size(&RootItem{}))
	require.Equal(t, 48, binary.Size(&DevExtent{}))
	require.Equal(t, 24, binary.Size(&BlockGroupItem{}))
	require.Equal(t, ExtentDataRefSize, binary.Size(&ExtentDataRef{}))
}

func TestNameHashKnownValues(t *testing.T) {
	// Values observed on real images (btrfs-format.md §2.5).
	require.EqualValues(t, 1956615555, NameHash([]byte("big.bin")))
	require.EqualValues(t, 2378154706, NameHash([]byte("default")))
}

func TestMirrorOffsets(t *testing.T) {
	require.EqualValues(t, 64<<10, MirrorOffset(0))
	require.EqualValues(t, 64<<20, MirrorOffset(1))
	require.EqualValues(t, int64(256)<<30, MirrorOffset(2))
}
