package treelog_test

// Opens of an image whose superblock names a log that cannot be read (the
// fs tree's root block given as log_root: wrong owner and generation),
// on a memory device: no root or kernel needed. The kernel-written logs
// are replayed by the tests in tests/treelog_*_test.go.

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
	"cowfs/transaction"
	"cowfs/treelog"
)

// badLogImage makes a filesystem whose log_root points to the fs tree's
// root block.
func badLogImage(t *testing.T) (disk.Device, uint64) {
	t.Helper()
	dev := disk.NewMemDevice(256 << 20)
	res, err := mkfs.Make(dev, mkfs.DefaultOptions())
	require.NoError(t, err)
	var fsRoot uint64
	for _, tr := range res.Trees {
		if tr.ObjectID == format.FSTreeObjectID {
			fsRoot = tr.Bytenr
		}
	}
	require.NotZero(t, fsRoot)
	sb := *res.Super
	sb.LogRoot, sb.LogRootLevel = fsRoot, 0
	require.NoError(t, disk.WriteSuper(dev, &sb))
	return dev, fsRoot
}

func open(dev disk.Device, ro, noReplay bool, replay func(*transaction.FS) error) error {
	o := transaction.DefaultOptions()
	o.CommitInterval = -1
	o.ReadOnly, o.NoLogReplay, o.ReplayLog = ro, noReplay, replay
	fs, err := transaction.Open(dev, o)
	if err == nil {
		err = fs.Close()
	}
	return err
}

func logRoot(t *testing.T, dev disk.Device) uint64 {
	sb, err := checker.ReadSuper(dev)
	require.NoError(t, err)
	return sb.LogRoot
}

func TestOpenWithLog(t *testing.T) {
	dev, at := badLogImage(t)
	err := open(dev, true, false, nil)
	require.ErrorIs(t, err, transaction.ErrLogReplay)
	require.ErrorContains(t, err, "log replay required on RO media")
	require.NoError(t, open(dev, true, true, nil), "read-only with no-log-replay")
	require.ErrorIs(t, open(dev, false, false, nil), transaction.ErrLogReplay, "read-write without a replayer")
	require.ErrorIs(t, open(dev, false, true, nil), transaction.ErrInvalidOptions)

	err = open(dev, false, false, treelog.Replay)
	require.Error(t, err)
	require.ErrorContains(t, err, "log root tree at")
	require.ErrorContains(t, err, "owner")
	require.NotContains(t, err.Error(), "\n")
	require.Equal(t, at, logRoot(t, dev), "a failed replay must leave the log")

	had, err := treelog.ZeroLog(dev)
	require.NoError(t, err)
	require.True(t, had)
	had, err = treelog.ZeroLog(dev)
	require.NoError(t, err)
	require.False(t, had)
	require.NoError(t, open(dev, false, false, treelog.Replay))
	require.NoError(t, open(dev, true, false, nil))
	require.Zero(t, logRoot(t, dev))
}
