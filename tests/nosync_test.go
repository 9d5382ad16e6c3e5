package tests

// No test may commit every filesystem on the machine: a global sync(2)
// drops the log tree a parallel test is building (docs/testing.md,
// "Timing"). Tests use testmount.Sync, syncfs(2) on their one mount.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// globalSync matches sync(2) from Go and sync(1) run as a command.
var globalSync = regexp.MustCompile(`\b(syscall|unix)\.Sync\(\)|\(\s*(t|k\.t|tb|w\.t)?,?\s*"sync"\s*\)|exec\.Command\("sync"`)

// TestNoGlobalSync scans every test file and the test helper packages.
func TestNoGlobalSync(t *testing.T) {
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		if !strings.HasSuffix(p, "_test.go") && !strings.Contains(p, "test/") && !strings.Contains(p, "testmount") {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for i, line := range strings.Split(string(b), "\n") {
			require.False(t, globalSync.MatchString(line) && !strings.Contains(line, "globalSync"), "%s:%d calls a global sync: %s", p, i+1, strings.TrimSpace(line))
		}
		return nil
	})
	require.NoError(t, err)
}
