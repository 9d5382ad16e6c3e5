package tests

// What `cowfs --help` and `--version` tell a new user must be true: every
// COW policy a flag accepts is listed in its help, and --version answers.

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
)

func TestCLIHelpListsValues(t *testing.T) {
	bin := buildCowfs(t)
	r := runCmd(t, bin, "--version")
	require.Equal(t, 0, r.Code, "%s", r.Stderr)
	require.True(t, strings.HasPrefix(r.Stdout, "cowfs version "), "%q", r.Stdout)
	require.Contains(t, r.Stdout, "go1.")

	for cmd, flag := range map[string]string{"mount": "--cow-policy", "repro-seed": "--policy"} {
		r := runCmd(t, bin, cmd, "--help")
		require.Equal(t, 0, r.Code)
		line := flagLine(t, r.Stdout, flag)
		for _, p := range append(ctree.PolicyNames(), ctree.UnsafePolicyNames()...) {
			require.Contains(t, line, p+" (", "%s %s: %s", cmd, flag, line)
		}
		require.Contains(t, flagLine(t, r.Stdout, "--unsafe-policy"), "negative-control")
		require.Contains(t, flagLine(t, r.Stdout, "--writeback-order"), "lru (")
		require.Contains(t, flagLine(t, r.Stdout, "--reservations"), "strict (")
		require.Contains(t, flagLine(t, r.Stdout, "--reservations"), "lenient (")
	}
	r = runCmd(t, bin, "repro-seed", "--help")
	require.Contains(t, flagLine(t, r.Stdout, "--size"), "K, M, G or T")
}

// flagLine is the line of the help's Flags section describing flag.
func flagLine(t *testing.T, help, flag string) string {
	t.Helper()
	_, flags, _ := strings.Cut(help, "\nFlags:\n")
	for line := range strings.Lines(flags) {
		if strings.HasPrefix(strings.TrimSpace(line), flag+" ") {
			return line
		}
	}
	t.Fatalf("no %s in:\n%s", flag, help)
	return ""
}
