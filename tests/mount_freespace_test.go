package tests

// TestMountFreeSpaceTree: images with a free-space tree, changed by the
// randomized mount workload through `cowfs mount` (read-write), stay
// valid for every oracle: one made by mkfs.btrfs with its defaults and
// filled by the kernel first (3000 small files, every other one deleted,
// so its data group is in bitmaps), one made by `cowfs mkfs`. The
// workload runs in the directory work/ (the model knows nothing of the
// kernel's files); afterwards our fsck and btrfs check (both modes, data
// checksums) find the image clean, and the kernel mounts it read-write,
// reads exactly the model, writes files of its own (allocating from the
// tree cowfs kept) and leaves it clean again.

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/fsck/fscktest"
)

// freeSpaceOps is the default length of each TestMountFreeSpaceTree case
// (-mount.ops overrides it).
const freeSpaceOps = 6000

func TestMountFreeSpaceTree(t *testing.T) {
	needFuse(t)
	needBtrfsProgs(t)
	bin := buildCowfs(t)
	t.Run("mkfs.btrfs", func(t *testing.T) {
		needKernelMount(t)
		img := fscktest.Mkfs(t, 1<<30)
		fscktest.Populate(t, img, func(dir string) {
			old := filepath.Join(dir, "old")
			require.NoError(t, os.Mkdir(old, 0o755))
			fscktest.FragmentFill(t, 3000)(old)
		})
		freeSpaceWorkload(t, bin, img)
	})
	t.Run("cowfs mkfs", func(t *testing.T) {
		img := filepath.Join(t.TempDir(), "fs.img")
		mkfsImage(t, bin, img, "1G")
		freeSpaceWorkload(t, bin, img)
	})
}

// freeSpaceWorkload runs the mount workload's two phases in work/ of img,
// then the oracles.
func freeSpaceWorkload(t *testing.T, bin, img string) {
	seed := mountSeed(t)
	ops := *mountOpsFlag
	if ops <= 0 {
		ops = freeSpaceOps
	}
	mnt := newMountpoint(t)
	var w *mountWorkload
	for i, flags := range mountPhases {
		d := startDaemon(t, bin, img, mnt, append([]string{"--no-permission-checks"}, flags...)...)
		require.NotContains(t, d.stderr.String(), "opened read-only")
		if w == nil {
			require.NoError(t, os.Mkdir(filepath.Join(mnt, "work"), 0o755))
			w = newMountWorkload(t, seed, filepath.Join(mnt, "work"), "16K")
			t.Cleanup(w.closeFiles)
		}
		w.phase(d, ops*(i+1)/len(mountPhases))
	}
	cowfsFsckClean(t, bin, img)
	fscktest.RequireClean(t, img)
	w.t = t
	fscktest.PopulateWith(t, img, "noatime", func(kmnt string) { // noatime: reading must not change what is compared
		w.compareTree(filepath.Join(kmnt, "work"))
		kdir := filepath.Join(kmnt, "kernel")
		require.NoError(t, os.Mkdir(kdir, 0o755))
		fscktest.FragmentFill(t, 500)(kdir)
	})
	fscktest.RequireClean(t, img)
	t.Logf("seed %d: %s", seed, w.summary())
}
