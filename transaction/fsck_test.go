package transaction

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/fsck"
)

// ourFsck runs cowfs fsck on the image and requires a clean report.
func ourFsck(t *testing.T, path string) {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true})
	require.NoError(t, err)
	defer dev.Close()
	rep, err := fsck.Check(dev, fsck.Options{})
	require.NoError(t, err)
	require.True(t, rep.Clean(), "cowfs fsck %s:\n%s", path, rep.Summary())
}
