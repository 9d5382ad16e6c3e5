package transaction

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/alloc"
	"cowfs/checker"
	"cowfs/ctree"
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/mkfs"
)

// insertXattrs inserts xattrs first … first+n-1 on the root directory in
// one handle of n items.
func insertXattrs(t *testing.T, fs *FS, first, n, size int) {
	t.Helper()
	root, err := fs.Tree(format.FSTreeObjectID)
	require.NoError(t, err)
	h, err := fs.Start(n)
	require.NoError(t, err)
	for i := first; i < first+n; i++ {
		k, d := xattrItem(i, size)
		require.NoError(t, ctree.InsertItem(h, root, k, d))
	}
	require.NoError(t, h.End())
}

// countXattrs counts the XATTR_ITEMs of the root directory.
func countXattrs(t *testing.T, fs *FS) int {
	t.Helper()
	root, err := fs.Tree(format.FSTreeObjectID)
	require.NoError(t, err)
	it := root.Scan(format.Key{ObjectID: format.FirstFreeObjectID, Type: format.XattrItemKey},
		format.Key{ObjectID: format.FirstFreeObjectID, Type: format.XattrItemKey + 1})
	n := 0
	for it.Next() {
		n++
	}
	require.NoError(t, it.Err())
	return n
}

func TestCommitPersists(t *testing.T) {
	path := fsImage(t, 256<<20)
	fs, err := OpenFile(path, testOptions())
	require.NoError(t, err)
	gen := fs.Super().Generation
	insertXattrs(t, fs, 0, 50, 500)
	require.NoError(t, fs.Commit())
	require.Equal(t, gen+1, fs.Super().Generation)
	require.NoError(t, fs.Commit(), "an empty commit")
	require.Equal(t, gen+1, fs.Super().Generation, "an empty transaction writes nothing")
	require.NoError(t, fs.Alloc().Check())
	require.Zero(t, fs.Alloc().PinnedBytes(), "unpinned after the commit")
	require.NoError(t, fs.Close())

	fs, err = OpenFile(path, testOptions())
	require.NoError(t, err)
	require.Equal(t, 50, countXattrs(t, fs))
	require.NoError(t, fs.Close())
}

func TestBackupRootsRotate(t *testing.T) {
	path := fsImage(t, 256<<20)
	fs, err := OpenFile(path, testOptions())
	require.NoError(t, err)
	for i := 0; i < 6; i++ {
		insertXattrs(t, fs, i*10, 10, 100)
		require.NoError(t, fs.Commit())
		sb := fs.Super()
		found := 0
		for _, br := range sb.SuperRoots {
			if br.TreeRootGen == sb.Generation {
				found++
				require.Equal(t, sb.Root, br.TreeRoot)
				require.Equal(t, sb.BytesUsed, br.BytesUsed)
			}
		}
		require.Equal(t, 1, found, "exactly one backup slot holds generation %d", sb.Generation)
	}
	require.NoError(t, fs.Close())
}

func TestCommitInterval(t *testing.T) {
	path := fsImage(t, 256<<20)
	o := testOptions()
	o.CommitInterval = 20 * time.Millisecond
	fs, err := OpenFile(path, o)
	require.NoError(t, err)
	gen := fs.Super().Generation
	insertXattrs(t, fs, 0, 5, 100)
	// Generous: only a commit timer that never fires reaches the limit.
	require.Eventually(t, func() bool { return fs.Super().Generation > gen }, 2*time.Minute, 10*time.Millisecond)
	require.NoError(t, fs.Close())
}

func TestAbortSticks(t *testing.T) {
	path := fsImage(t, 256<<20)
	fs, err := OpenFile(path, testOptions())
	require.NoError(t, err)
	fs.SetLog(&testLog{t})
	insertXattrs(t, fs, 0, 10, 100)
	require.NoError(t, fs.Commit())
	insertXattrs(t, fs, 10, 10, 100)
	cause := fmt.Errorf("injected failure")
	fs.Abort(cause)
	_, err = fs.Start(1)
	require.ErrorIs(t, err, syscall.EROFS)
	require.ErrorIs(t, err, cause)
	require.ErrorIs(t, fs.Commit(), syscall.EROFS)
	fs.Abort(fmt.Errorf("second"))
	require.ErrorIs(t, fs.Aborted(), cause, "the first error sticks")
	require.Error(t, fs.Close())

	fs, err = OpenFile(path, testOptions())
	require.NoError(t, err)
	require.Equal(t, 10, countXattrs(t, fs), "the last commit, and nothing of the aborted transaction")
	require.NoError(t, fs.Close())
}

type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) { l.t.Logf("%s", p); return len(p), nil }

// A full device refuses at Start, before any change; the filesystem stays
// writable and consistent.
func TestStartENOSPCWhenFull(t *testing.T) {
	path := fsImage(t, mkfs.MinSize(16384))
	fs, err := OpenFile(path, testOptions())
	require.NoError(t, err)
	fs.SetLog(&testLog{t})
	n := 0
	for ; n < 100000; n += 8 {
		root, _ := fs.Tree(format.FSTreeObjectID)
		h, err := fs.Start(8)
		if err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			require.Nil(t, h)
			break
		}
		for i := n; i < n+8; i++ {
			k, d := xattrItem(i, 3000)
			require.NoError(t, ctree.InsertItem(h, root, k, d), "an insert within a successful Start")
		}
		require.NoError(t, h.End())
	}
	require.Nil(t, fs.Aborted())
	t.Logf("ENOSPC at Start after %d xattrs\n%s", n, fs.DumpSpace(nil))
	require.NoError(t, fs.Commit())
	require.Equal(t, n, countXattrs(t, fs))
	require.NoError(t, fs.Close())
}

// StartFrom takes a handle's reserve and the delayed refs' share out of a
// reserve filled earlier; a reserve holding less refuses, changing
// nothing; End gives back what the handle did not use.
func TestStartFrom(t *testing.T) {
	fs, err := OpenFile(fsImage(t, 256<<20), testOptions())
	require.NoError(t, err)
	meta := func() uint64 { return fs.Alloc().Space(format.BlockGroupMetadata).MayUse }
	idle := meta()
	need := 2 * InsertSize(fs.NodeSize(), 3)
	rsv := fs.Alloc().NewRsv("delalloc_meta", format.BlockGroupMetadata)
	require.NoError(t, rsv.Add(need-1))
	_, err = fs.StartFrom(3, rsv)
	require.ErrorIs(t, err, alloc.ErrRsvExhausted)
	_, held := rsv.Info()
	require.Equal(t, need-1, held, "a refused StartFrom takes nothing")
	require.NoError(t, rsv.Add(1))
	h, err := fs.StartFrom(3, rsv)
	require.NoError(t, err)
	_, held = rsv.Info()
	require.Zero(t, held, "the handle took it all")
	require.Equal(t, idle+need, meta(), "moved, not reserved again")
	root, _ := fs.Tree(format.FSTreeObjectID)
	k, d := xattrItem(1, 100)
	require.NoError(t, ctree.InsertItem(h, root, k, d))
	require.NoError(t, h.End())
	require.NoError(t, fs.Commit())
	require.LessOrEqual(t, meta(), idle, "End and the commit gave it back")
	require.NoError(t, fs.Close())
}

// Metadata outgrows its chunk: the allocator adds chunks whose items the
// commit inserts (btrfs check at cleanup checks them).
func TestNewMetadataChunks(t *testing.T) {
	path := fsImage(t, 96<<20)
	fs, err := OpenFile(path, testOptions())
	require.NoError(t, err)
	before := len(fs.Alloc().Groups())
	for i := 0; fs.Alloc().Stats().Chunks < 2; i += 10 {
		insertXattrs(t, fs, i, 10, 3000)
		if i%100 == 0 {
			require.NoError(t, fs.Commit())
		}
		require.Less(t, i, 200000)
	}
	require.NoError(t, fs.Commit())
	require.NoError(t, fs.Alloc().Check())
	require.Equal(t, before+2, len(fs.Alloc().Groups()))
	sb := fs.Super()
	require.Equal(t, fs.Alloc().DevBytesUsed(), sb.DevItem.BytesUsed)
	require.NoError(t, fs.Close())
}

func TestNewSystemChunk(t *testing.T) {
	path := fsImage(t, 1<<30)
	fs, err := OpenFile(path, testOptions())
	require.NoError(t, err)
	insertXattrs(t, fs, 0, 10, 100)
	_, err = fs.Alloc().NewChunk(format.BlockGroupSystem)
	require.NoError(t, err)
	t0 := fs.current()
	t0.mu.Lock()
	t0.mu.sysChunks = true
	t0.mu.Unlock()
	require.NoError(t, fs.Commit())
	sys, err := func() ([]format.SysChunk, error) { sb := fs.Super(); return sb.SysChunks() }()
	require.NoError(t, err)
	require.Len(t, sys, 2)
	require.NoError(t, fs.Close())
}

// Many goroutines insert, update and delete at once while commits run.
func TestConcurrentHandlesAndCommits(t *testing.T) {
	path := fsImage(t, 512<<20)
	o := testOptions()
	o.Cache.Budget = 64 * 16384
	o.Cache.DirtyThreshold = 16 * 16384
	fs, err := OpenFile(path, o)
	require.NoError(t, err)
	root, _ := fs.Tree(format.FSTreeObjectID)
	const workers, per = 6, 150
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				if err := fs.Commit(); err != nil {
					t.Errorf("commit: %v", err)
					return
				}
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				id := w*per + i
				h, err := fs.Start(2)
				if err != nil {
					t.Errorf("start: %v", err)
					return
				}
				k, d := xattrItem(id, 200+id%1500)
				if err := ctree.InsertItem(h, root, k, d); err != nil {
					t.Errorf("insert %d: %v", id, err)
				}
				if id%3 == 0 {
					if err := ctree.DeleteItem(h, root, k); err != nil {
						t.Errorf("delete %d: %v", id, err)
					}
				}
				h.End()
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	require.NoError(t, fs.Commit())
	want := workers * per * 2 / 3
	require.Equal(t, want, countXattrs(t, fs))
	require.NoError(t, fs.Alloc().Check())
	t.Logf("stats %+v", fs.Stats())
	require.NoError(t, fs.Close())
}

func TestOpenRefusesUnsupported(t *testing.T) {
	path := fsImage(t, 256<<20)
	// A bit the kernel knows but cowfs does not handle: unsupported.
	setSuperField(t, path, func(sb *format.Super) { sb.IncompatFlags |= format.IncompatRaid1C34 })
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = OpenFile(path, testOptions())
	require.ErrorIs(t, err, ErrUnsupported)
	require.Contains(t, err.Error(), "incompat flags 0x800")
	after, _ := os.ReadFile(path)
	require.Equal(t, before, after, "nothing written")
	// A bit the kernel does not know breaks superblock rule #10, which
	// every opener applies (checker.ReadSuper), as the kernel refuses it.
	setSuperField(t, path, func(sb *format.Super) { sb.IncompatFlags ^= format.IncompatRaid1C34 | 1<<40 })
	_, err = OpenFile(path, testOptions())
	ce, ok := errors.AsType[*checker.Error](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, checker.RuleSuperIncompat, ce.Rule)
	require.ErrorIs(t, err, format.ErrCorrupt)
	require.Contains(t, err.Error(), "unknown incompat features, have 0x10000000000")
	setSuperField(t, path, func(sb *format.Super) { sb.IncompatFlags &^= 1 << 40 })

	// A free-space tree not marked valid (the kernel rebuilds it) is
	// refused read-write; cowfs mkfs's valid one is kept.
	setSuperField(t, path, func(sb *format.Super) { sb.CompatRoFlags &^= format.CompatRoFreeSpaceTreeValid })
	_, err = OpenFile(path, testOptions())
	require.ErrorIs(t, err, ErrUnsupported)
	require.Contains(t, err.Error(), "free-space tree not marked valid")
	ro := testOptions()
	ro.ReadOnly = true
	fs, err := OpenFile(path, ro)
	require.NoError(t, err, "read-only is fine")
	_, err = fs.Start(1)
	require.ErrorIs(t, err, syscall.EROFS)
	require.NoError(t, fs.Close())
	setSuperField(t, path, func(sb *format.Super) { sb.CompatRoFlags |= format.CompatRoFreeSpaceTreeValid })
}

// setSuperField edits every superblock copy of the image (read as it is:
// an edit may have broken a superblock rule).
func setSuperField(t *testing.T, path string, edit func(*format.Super)) {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{})
	require.NoError(t, err)
	defer dev.Close()
	sb, err := disk.NewestSuper(disk.ReadSupers(dev))
	require.NoError(t, err)
	edit(sb)
	require.NoError(t, disk.WriteSuper(dev, sb))
}
