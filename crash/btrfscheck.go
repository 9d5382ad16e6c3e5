package crash

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"cowfs/disk/format"
)

// btrfsCheck runs btrfs check on every new L0 state and every
// BtrfsCheckEvery-th other new state, except those with a torn primary
// superblock (btrfs check reads only the primary): "" when clean or not
// sampled, else its last lines of output.
func (c *stateChecker) btrfsCheck(s State, d *device) string {
	every := c.cfg.BtrfsCheckEvery
	if every <= 0 || s.Level != L0 && c.n%every != 0 || c.tornSuper(s) == format.MirrorOffset(0) {
		return ""
	}
	c.res.BtrfsChecks++
	path := filepath.Join(c.tmp, "state.img")
	if err := writeSparse(path, d.im); err != nil {
		return err.Error()
	}
	out, err := exec.Command("btrfs", "check", "--force", "--readonly", "--check-data-csum", path).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, lastLines(out, 3))
	}
	return ""
}

// lastLines is the last n lines of out, joined by " | ".
func lastLines(out []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte(" | ")))
}

// writeSparse writes the image to path, leaving its zero pages holes.
func writeSparse(path string, im *image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	size := im.size
	for i := range size / pageSize {
		if p := im.page(i); !allZero(p) {
			if _, err = f.WriteAt(p, i*pageSize); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = f.Truncate(size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}
