package tests

// TestMountRequestsPerCreate counts the FUSE requests one create costs
// (open(O_CREAT|O_EXCL) + close in a directory the kernel knows), from the
// daemon's --debug log: LOOKUP (negative), CREATE, RELEASE, and a GETATTR
// of the directory (the kernel drops the attributes of a directory it has
// created in, and its permission check fetches them again). FLUSH is
// answered ENOSYS once and never sent again (fuse/ops_file.go).

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMountRequestsPerCreate(t *testing.T) {
	needFuse(t)
	bin := buildCowfs(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	mkfsImage(t, bin, img, "256M")
	log := filepath.Join(t.TempDir(), "debug.log")
	d := startDaemon(t, bin, img, newMountpoint(t), "--debug", "--log", log)
	dir := filepath.Join(d.mnt, "d")
	require.NoError(t, os.Mkdir(dir, 0o755))
	_, err := os.Stat(dir)
	require.NoError(t, err)
	before, err := os.ReadFile(log)
	require.NoError(t, err)
	const files = 100
	for i := range files {
		f, err := os.OpenFile(filepath.Join(dir, fileName(i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	d.umount()
	after, err := os.ReadFile(log)
	require.NoError(t, err)
	n := countRequests(string(after[len(before):]))
	t.Logf("requests for %d creates (and the unmount): %v", files, n)
	require.Equal(t, files, n["CREATE"])
	require.LessOrEqual(t, n["FLUSH"], 1, "FLUSH after the first ENOSYS")
	perCreate := n["LOOKUP"] + n["CREATE"] + n["FLUSH"] + n["RELEASE"] + n["GETATTR"]
	require.LessOrEqual(t, perCreate, 4*files+5, "LOOKUP+CREATE+FLUSH+RELEASE+GETATTR for %d creates", files)
}

var rxRequest = regexp.MustCompile(`rx \d+: ([A-Z_]+)`)

// countRequests counts the requests in a go-fuse debug log by opcode
// (anywhere in a line: the log does not always end an entry with one).
func countRequests(log string) map[string]int {
	n := map[string]int{}
	for _, m := range rxRequest.FindAllStringSubmatch(log, -1) {
		n[m[1]]++
	}
	return n
}
