package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// `cowfs repro-seed` is the user-runnable form of the seed's ENOSPC
// (transaction.TestSeedENOSPC): strict reservations fail the create with
// the dump; lenient ones report the overspend; the image passes our fsck
// and btrfs check afterwards either way.
func TestReproSeedCLI(t *testing.T) {
	bin := buildCowfs(t)
	img := filepath.Join(t.TempDir(), "seed.img")
	r := runCmd(t, bin, "repro-seed", "--size", "300M", img)
	require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
	st, err := os.Stat(img)
	require.NoError(t, err)
	require.EqualValues(t, 300<<20, st.Size(), "--size takes M like mkfs")
	require.Contains(t, r.Stdout, "create: FAILED")
	require.Contains(t, r.Stdout, "no space left on device")
	require.Contains(t, r.Stdout, "max COWs in one search 80")
	require.Contains(t, r.Stdout, "dumping space info:")
	require.Contains(t, r.Stdout, "forced read-only")
	cowfsFsckClean(t, bin, img)
	needBtrfsProgs(t)
	btrfsCheck(t, img)

	r = runCmd(t, bin, "repro-seed", "--force", "--reservations", "lenient", "--hold-reads-after", "200", img)
	require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
	require.Contains(t, r.Stdout, "create: completed")
	require.Regexp(t, `overspent [1-9][0-9]*`, r.Stdout)
	require.Regexp(t, `lenient: [1-9][0-9]* bytes beyond the reservation came from free space, and the create completed`, r.Stdout)
	cowfsFsckClean(t, bin, img)
	btrfsCheck(t, img)

	r = runCmd(t, bin, "repro-seed", img)
	require.Equal(t, 1, r.Code, "an existing btrfs needs --force")
	require.Contains(t, r.Stderr, "--force")
	r = runCmd(t, bin, "repro-seed", "--policy", "nonsense", img)
	require.Equal(t, 2, r.Code)
	r = runCmd(t, bin, "repro-seed", "--force", "--size", "12Q", img)
	require.Equal(t, 2, r.Code)
	requireOneLine(t, r.Stderr, "--size")

	// A refused run leaves the image alone: no truncation to --size
	// before the existing filesystem is found.
	before := imageHash(t, img)
	r = runCmd(t, bin, "repro-seed", "--size", "64M", img)
	require.Equal(t, 1, r.Code)
	st, err = os.Stat(img)
	require.NoError(t, err)
	require.EqualValues(t, 300<<20, st.Size(), "a refused repro-seed resized the image")
	require.Equal(t, before, imageHash(t, img))
}
