package cache

import (
	"flag"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/checker"
)

var seedFlag = flag.Uint64("cache.seed", 0, "seed of TestConcurrent (0: random)")

const (
	workers       = 8
	blocksPerUser = 24
	opsPerUser    = 400
	maxPins       = 2
)

// TestConcurrent runs 8 goroutines against one small cache with reclaim and
// the flusher active: each reads the mkfs trees, creates, modifies, pins and
// commits its own blocks, keeping a model of what each block should hold.
// At the end everything is flushed and a fresh cache reads every block back
// from the device and compares it with the model.
func TestConcurrent(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -cache.seed=%d)", seed, seed)
	im := memImage(t)
	opts := im.testOptions(32)
	opts.DirtyThreshold = 6 * int64(im.ns)
	opts.FlushInterval = 2 * time.Millisecond
	opts.Order = WritebackOrder(seed % 2)
	// users modify blocks in place whatever their writeback: only the
	// modes in which that is safe (IOUnlocked is not)
	opts.IO = []WritebackIO{IOLocked, IOBounce}[seed/2%2]
	t.Logf("order %s, writeback I/O %s", opts.Order, opts.IO)
	c, _ := im.open(t, nil, opts)
	errs := &errRecorder{}
	c.OnWriteError(errs.record)

	users := make([]*user, workers)
	var wg sync.WaitGroup
	for g := range workers {
		users[g] = &user{t: t, im: im, c: c, rng: rand.New(rand.NewPCG(seed, uint64(g))), base: g * blocksPerUser}
		wg.Go(users[g].run)
	}
	wg.Wait()
	for _, u := range users {
		u.unpinAll()
	}
	require.NoError(t, c.FlushAll(CauseCommit))
	require.NoError(t, c.Close())
	_, es := errs.calls()
	require.Empty(t, es)
	s := c.Stats()
	t.Logf("%s", s)
	require.NotZero(t, s.Evictions)
	require.NotZero(t, s.Writebacks[CauseReclaim]+s.Writebacks[CauseThreshold])
	require.Zero(t, s.DirtyBytes)

	fresh, _ := im.open(t, nil, im.testOptions(16))
	for _, u := range users {
		for i, want := range u.model {
			eb, err := fresh.Get(checker.ExpectAt(im.free(u.base + i)))
			require.NoError(t, err)
			require.Equal(t, want, stampOf(t, eb.Data()), "block %d", eb.Bytenr)
			fresh.Release(eb)
		}
	}
}

// user is one goroutine of TestConcurrent and its model: the stamp each of
// its blocks must hold.
type user struct {
	t      *testing.T
	im     *image
	c      *Cache
	rng    *rand.Rand
	base   int
	model  []uint64
	pinned []*ExtentBuffer // each with a reference
	next   uint64
}

func (u *user) run() {
	for range opsPerUser {
		switch r := u.rng.IntN(100); {
		case r < 30:
			u.readTree()
		case r < 75:
			u.modify()
		case r < 85:
			u.commit()
		case r < 95:
			u.pin()
		default:
			u.unpinAll()
		}
	}
}

func (u *user) readTree() {
	trees := u.im.res.Trees
	eb, err := u.c.Get(expect(trees[u.rng.IntN(len(trees))]))
	require.NoError(u.t, err)
	eb.RLock()
	_ = eb.Header().Owner()
	eb.RUnlock()
	u.c.Release(eb)
}

// block returns block i of this user with a reference, creating it if new.
func (u *user) block(i int) *ExtentBuffer {
	addr := u.im.free(u.base + i)
	if i == len(u.model) {
		u.model = append(u.model, 0)
		return u.im.newLeaf(u.t, u.c, addr, 2)
	}
	if eb := u.c.Find(addr); eb != nil {
		return eb
	}
	eb, err := u.c.Get(checker.ExpectAt(addr))
	require.NoError(u.t, err)
	return eb
}

func (u *user) modify() {
	i := u.rng.IntN(min(len(u.model)+1, blocksPerUser))
	eb := u.block(i)
	eb.Lock()
	u.next++
	stamp(u.t, eb, u.next)
	u.c.MarkDirty(eb, 2)
	eb.Unlock()
	u.model[i] = u.next
	u.c.Release(eb)
}

func (u *user) commit() {
	var ebs []*ExtentBuffer
	for i := range len(u.model) {
		if u.rng.IntN(2) == 0 {
			ebs = append(ebs, u.block(i))
		}
	}
	err := u.c.WriteDirty(ebs, CauseCommit)
	if err != nil {
		require.ErrorIs(u.t, err, ErrWritebackBlocked) // our own pins
	}
	for _, eb := range ebs {
		u.c.Release(eb)
	}
}

func (u *user) pin() {
	if len(u.model) == 0 || len(u.pinned) >= maxPins {
		return
	}
	eb := u.block(u.rng.IntN(len(u.model)))
	eb.Lock()
	eb.BlockWriteback()
	eb.Unlock()
	u.pinned = append(u.pinned, eb)
}

func (u *user) unpinAll() {
	for _, eb := range u.pinned {
		eb.Lock()
		eb.UnblockWriteback()
		eb.Unlock()
		u.c.Release(eb)
	}
	u.pinned = nil
}
