package tests

import (
	"os"
	"path/filepath"
	"testing"

	"cowfs/ctree"
)

// mountPolicyOps is the length of each TestMountWorkloadPolicies run.
const mountPolicyOps = 3000

// TestMountWorkloadPolicies runs the model-checked mount workload of
// TestMountWorkload under every safe COW policy, with a 2 MiB cache and
// write-through data, so that reclaim writes back blocks of the running
// transaction (where the policies differ), and the writeback order
// alternating between address and lru. Each image passes our fsck and
// btrfs check at the end.
func TestMountWorkloadPolicies(t *testing.T) {
	needFuse(t)
	needBtrfsProgs(t)
	seed := mountSeed(t)
	bin := buildCowfs(t)
	for i, p := range ctree.PolicyNames() {
		order := []string{"address", "lru"}[i%2]
		t.Run(p+"/"+order, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			mkfsImage(t, bin, img, "1G", "--nodesize", "4K")
			mnt := newMountpoint(t)
			flags := []string{"--cow-policy", p, "--writeback-order", order, "--commit-interval", "1s",
				"--cache-budget", "2M", "--data-buffer", "0"}
			if os.Geteuid() != 0 {
				flags = append(flags, "--no-permission-checks")
			}
			d := startDaemon(t, bin, img, mnt, flags...)
			w := newMountWorkload(t, seed, mnt, "4K")
			t.Cleanup(w.closeFiles)
			w.phase(d, mountPolicyOps)
			cowfsFsckClean(t, bin, img)
			btrfsCheck(t, img, "--check-data-csum")
			t.Logf("%s, order %s: %s", p, order, w.summary())
		})
	}
}
