package disk

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

// mkfsImage makes a 128 MiB image with btrfs-progs' mkfs, or skips.
func mkfsImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img")
	require.NoError(t, os.WriteFile(img, nil, 0o644))
	require.NoError(t, os.Truncate(img, 128<<20))
	if out, err := exec.Command("mkfs.btrfs", "-q", "-f", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.btrfs: %v: %s", err, out)
	}
	return img
}

// TestMkfsImage reads a superblock and the chunk root that btrfs-progs wrote.
func TestMkfsImage(t *testing.T) {
	f, err := OpenFile(mkfsImage(t), FileOptions{ReadOnly: true})
	require.NoError(t, err)
	defer f.Close()
	for _, c := range ReadSupers(f) {
		require.NoError(t, c.Err, "mirror %d", c.Mirror)
	}
	s, err := readSuper(f)
	require.NoError(t, err)
	m, err := ChunkMapFromSuper(s)
	require.NoError(t, err)

	copies, err := m.Copies(s.ChunkRoot, uint64(s.NodeSize))
	require.NoError(t, err)
	require.NotEmpty(t, copies)
	for _, off := range copies {
		block := make([]byte, s.NodeSize)
		require.NoError(t, f.ReadAt(block, off, KindMeta))
		require.True(t, s.CsumType.VerifyBlockCsum(block), "chunk root at physical %d", off)
		h := format.Header(block)
		require.Equal(t, s.ChunkRoot, h.Bytenr())
		require.Equal(t, format.ChunkTreeObjectID, h.Owner())
	}
}

// TestWriteSuperAcceptedByProgs rewrites the label with WriteSuper and lets
// btrfs-progs verify every copy's checksum.
func TestWriteSuperAcceptedByProgs(t *testing.T) {
	img := mkfsImage(t)
	f, err := OpenFile(img, FileOptions{})
	require.NoError(t, err)
	s, err := readSuper(f)
	require.NoError(t, err)
	copy(s.Label[:], "cowfs-label")
	require.NoError(t, WriteSuper(f, s))
	require.NoError(t, f.Close())

	out, err := exec.Command("btrfs", "inspect-internal", "dump-super", "-a", img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	csumOK := regexp.MustCompile(`(?m)^csum\s+0x[0-9a-f]+ \[match\]$`)
	require.Len(t, csumOK.FindAllString(string(out), -1), 2, "%s", out)
	require.Equal(t, 2, strings.Count(string(out), "cowfs-label"))
	out, err = exec.Command("btrfs", "check", "--readonly", img).CombinedOutput()
	require.NoError(t, err, "%s", out)
}
