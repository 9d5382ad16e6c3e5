package transaction

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/fsck"
	"cowfs/mkfs"
)

// faultFS is a filesystem on a fault-injecting memory device, with 30
// committed xattrs (state A) and 30 more in the running transaction.
func faultFS(t *testing.T) (*FS, *disk.FaultDevice, *disk.MemDevice) {
	t.Helper()
	mem := disk.NewMemDevice(256 << 20)
	_, err := mkfs.Make(mem, mkfs.DefaultOptions())
	require.NoError(t, err)
	dev := disk.NewFaultDevice(mem)
	fs, err := Open(dev, testOptions())
	require.NoError(t, err)
	fs.SetLog(&testLog{t})
	insertXattrs(t, fs, 0, 30, 700)
	require.NoError(t, fs.Commit())
	insertXattrs(t, fs, 30, 30, 700)
	return fs, dev, mem
}

// requireState reopens the inner device: fsck must be clean and the root
// directory must hold exactly n xattrs.
func requireState(t *testing.T, mem *disk.MemDevice, n int) {
	t.Helper()
	rep, err := fsck.Check(mem, fsck.Options{})
	require.NoError(t, err)
	require.True(t, rep.Clean(), "fsck after the fault:\n%s", rep.Summary())
	fs, err := Open(mem, testOptions())
	require.NoError(t, err)
	require.Equal(t, n, countXattrs(t, fs))
	require.NoError(t, fs.Close())
}

// A device error during the commit aborts it; the image keeps the previous
// commit, which reopens and passes fsck (issue 4, faults).
func TestCommitFaultsKeepPreviousCommit(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule disk.FaultRule
	}{
		{"first metadata write", disk.FaultRule{Ops: disk.OpWrites, Kinds: []disk.Kind{disk.KindMeta}, Count: 1}},
		{"metadata write, torn", disk.FaultRule{Ops: disk.OpWrites, Kinds: []disk.Kind{disk.KindMeta}, Count: 1, Torn: 4096}},
		{"flush of the dirty set", disk.FaultRule{Ops: disk.OpFlush, Count: 1}},
		{"primary superblock", disk.FaultRule{Ops: disk.OpDurable, Kinds: []disk.Kind{disk.KindSuper}, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, dev, mem := faultFS(t)
			id := dev.Arm(tc.rule)
			err := fs.Commit()
			require.Error(t, err)
			require.Equal(t, uint64(1), dev.Fired(id))
			require.ErrorIs(t, fs.Aborted(), disk.ErrInjected)
			_, err = fs.Start(1)
			require.ErrorIs(t, err, ErrReadOnly)
			require.Error(t, fs.Close())
			requireState(t, mem, 30)
		})
	}
}

// Power lost after n writes of a commit, for every n: the image reopens at
// the previous commit, or at the new one once its superblock is down.
func TestCommitCrashAtEveryWrite(t *testing.T) {
	for n := uint64(0); ; n++ {
		fs, dev, mem := faultFS(t)
		dev.CrashAfterWrites(n)
		err := fs.Commit()
		fs.Close()
		if err == nil {
			requireState(t, mem, 60)
			t.Logf("the commit needs %d writes; crashes before each of them keep the previous commit", n)
			require.Positive(t, n)
			return
		}
		require.True(t, dev.Crashed(), "write %d: %v", n, err)
		t.Run(fmt.Sprintf("after %d writes", n), func(t *testing.T) {
			sb, serr := checker.ReadSuper(mem)
			require.NoError(t, serr)
			want := 30
			if sb.Generation > 2 && countCommitted(t, mem) == 60 {
				want = 60 // the primary made it before the crash
			}
			requireState(t, mem, want)
		})
	}
}

// countCommitted returns the xattr count of the committed image.
func countCommitted(t *testing.T, mem *disk.MemDevice) int {
	fs, err := Open(mem, testOptions())
	require.NoError(t, err)
	defer fs.Close()
	return countXattrs(t, fs)
}
