package treelog

import (
	"fmt"

	"cowfs/checker"
	"cowfs/disk"
)

// ZeroLog drops the log of the filesystem on dev, as btrfs rescue
// zero-log: every superblock copy is rewritten with log_root and
// log_root_level 0, nothing else changes (the log's blocks were never
// counted as used, so nothing leaks). It reports whether there was a log.
func ZeroLog(dev disk.Device) (bool, error) {
	sb, err := checker.ReadSuper(dev)
	if err != nil {
		return false, err
	}
	if sb.LogRoot == 0 {
		return false, nil
	}
	sb.LogRoot, sb.LogRootLevel = 0, 0
	if err := disk.WriteSuper(dev, sb); err != nil {
		return false, fmt.Errorf("zero-log: %w", err)
	}
	return true, nil
}
