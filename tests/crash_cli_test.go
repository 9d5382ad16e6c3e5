package tests

// cowfs crash as a user runs it: a small campaign passes with its table,
// shards split the runs, and bad flags give one line and exit 2.

import (
	"cowfs/ctree"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// crashRuns runs cowfs crash with args and returns how many runs the
// summary reports.
func crashRuns(t *testing.T, bin string, args ...string) int {
	t.Helper()
	r := runCmd(t, bin, append([]string{"crash", "--no-progress", "--btrfs-check-every", "0"}, args...)...)
	require.Equal(t, 0, r.Code, "stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	require.Contains(t, r.Stdout, "level")
	m := regexp.MustCompile(`(\d+) runs, (\d+) distinct states`).FindStringSubmatch(r.Stdout)
	require.NotNil(t, m, r.Stdout)
	states, _ := strconv.Atoi(m[2])
	require.Positive(t, states, r.Stdout)
	runs, _ := strconv.Atoi(m[1])
	return runs
}

func TestCrashCLI(t *testing.T) {
	bin := buildCowfs(t)
	args := []string{"--workload", "seq1/rmdir", "--levels", "L0-L1"}
	all := 2 * len(ctree.PolicyNames()) // 2 workloads x every safe policy
	require.Equal(t, all, crashRuns(t, bin, args...))
	require.Equal(t, all/2, crashRuns(t, bin, append(args, "--shard", "0/2")...))
	require.Equal(t, all/2, crashRuns(t, bin, append(args, "--shard", "1/2")...))
	require.Equal(t, 1, crashRuns(t, bin, "--workload", "seq1/rmdir/sync", "--policy", "pin-handle", "--levels", "L0,L3"))
}

func TestCrashCLIBadInput(t *testing.T) {
	bin := buildCowfs(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--levels", "L9"}, 2, "--levels"},
		{[]string{"--levels", "L2-L1"}, 2, "--levels"},
		{[]string{"--workload", "nope"}, 2, "--workload"},
		{[]string{"--policy", "nope"}, 2, "--policy"},
		{[]string{"--shard", "2/2"}, 2, "--shard"},
		{[]string{"--states", "-1"}, 2, "--states"},
		{[]string{"--replay", t.TempDir()}, 1, "replay"},
	} {
		r := runCmd(t, bin, append([]string{"crash", "--no-progress"}, tc.args...)...)
		require.Equal(t, tc.code, r.Code, "%v: %s", tc.args, r.Stderr)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(r.Stderr), "\n")+1, "%v: %q", tc.args, r.Stderr)
		require.Contains(t, r.Stderr, tc.want, "%v", tc.args)
		require.Empty(t, r.Stdout, "%v", tc.args)
	}
}
