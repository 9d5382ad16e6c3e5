package fs

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/transaction"
)

// createsFiles is the file count of TestCreatesCommitOnce: enough that
// the delayed-items reservations once forced six commits on its 1 GiB
// image (256 KiB held per create until a commit).
const createsFiles = 10_000

// Creates commit like the kernel (docs/transaction.md, "Flushing for
// space"): 10,000 empty files in 100 directories by two writers, then one
// Sync, on a fresh 1 GiB image with the default options (no commit timer).
// No reservation forces a commit or needs any flush, Sync commits once,
// and every block is written once: no COW copies a block the transaction
// already wrote (a re-COW writes a position twice).
func TestCreatesCommitOnce(t *testing.T) {
	tf := newTestFSOpts(t, 1<<30, testOptions())
	dirs := mkdirs(t, tf.FS, 100)
	require.NoError(t, tf.Sync())
	s0 := tf.Transaction().Stats()
	cows0, recows0 := treeCOWs(t, tf.Transaction())
	createFiles(t, tf.FS, dirs, createsFiles, 2)
	mid := tf.Transaction().Stats()
	require.Equal(t, s0.Commits, mid.Commits, "commits before the sync")
	require.Equal(t, s0.Flushes, mid.Flushes, "flushes for space (forced commits among them)")
	require.NoError(t, tf.Sync())
	require.Equal(t, s0.Commits+1, tf.Transaction().Stats().Commits, "the sync's commit")
	cows, recows := treeCOWs(t, tf.Transaction())
	require.Equal(t, recows0, recows, "re-COWs: blocks written before the commit and COWed again")
	require.Greater(t, cows, cows0)
}

func mkdirs(t testing.TB, f *FS, n int) []uint64 {
	t.Helper()
	inos := make([]uint64, n)
	for d := range inos {
		at, err := f.Mkdir(f.Root(), fmt.Sprintf("d%03d", d), 0o755, Creator{})
		require.NoError(t, err)
		inos[d] = at.Ino
	}
	return inos
}

// createFiles creates files empty files, file i in dirs[i mod len(dirs)],
// writer w of writers taking every writers-th file from w.
func createFiles(t *testing.T, f *FS, dirs []uint64, files, writers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < files && errs[w] == nil; i += writers {
				_, errs[w] = f.Create(dirs[i%len(dirs)], fmt.Sprintf("f%06d", i), 0o644, Creator{})
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// treeCOWs sums the COWs and re-COWs of every tree.
func treeCOWs(t *testing.T, tr *transaction.FS) (cows, recows uint64) {
	t.Helper()
	for _, id := range tr.TreeIDs() {
		r, err := tr.Tree(id)
		require.NoError(t, err)
		s := r.Stats()
		cows, recows = cows+s.TotalCOWs(), recows+s.TotalReCOWs()
	}
	return cows, recows
}
