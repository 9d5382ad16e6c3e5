package ctree

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/cache"
	"cowfs/checker"
	"cowfs/disk/format"
)

// damage applies f to a block of the tree under its write lock, checks that
// Verify reports reason, then undoes the change.
func damage(t *testing.T, h *harness, eb *cache.ExtentBuffer, reason string, f func(b []byte)) {
	t.Helper()
	saved := append([]byte(nil), eb.Data()...)
	eb.Lock()
	f(eb.Data())
	eb.Unlock()
	err := Verify(h.root)
	require.ErrorIs(t, err, format.ErrCorrupt)
	require.ErrorContains(t, err, reason)
	var e *checker.Error
	require.ErrorAs(t, err, &e)
	t.Log(err)
	eb.Lock()
	copy(eb.Data(), saved)
	eb.Unlock()
	require.NoError(t, Verify(h.root))
}

// TestVerifyCatchesDamage proves Verify can fail: each cross-block and
// in-block rule is broken once.
func TestVerifyCatchesDamage(t *testing.T) {
	h := newHarness(t, 64<<20, 4096, 64<<20)
	buildTree(t, h, 3000)
	require.NoError(t, Verify(h.root))
	rootEB := h.root.grabNode()
	defer h.c.Release(rootEB)
	require.NotZero(t, rootEB.Header().Level())
	child := h.c.Find(rootEB.Node().BlockPtr(1))
	require.NotNil(t, child)
	defer h.c.Release(child)

	damage(t, h, rootEB, "first key does not match parent key", func(b []byte) {
		n := format.Node(b)
		k := n.Key(1)
		k.Offset++
		n.SetKey(1, k)
	})
	damage(t, h, rootEB, "key pointer generation mismatch", func(b []byte) {
		n := format.Node(b)
		n.SetPtrGeneration(1, n.PtrGeneration(1)+1)
	})
	damage(t, h, rootEB, "owner mismatch", func(b []byte) { format.Header(b).SetOwner(5) })
	damage(t, h, child, "key not below the next parent key", func(b []byte) {
		l := format.Leaf(b)
		last := l.NrItems() - 1
		k := l.ItemKey(last)
		k.ObjectID += 100000
		l.SetItemKey(last, k)
	})
	damage(t, h, child, "leaf check failed", func(b []byte) {
		l := format.Leaf(b)
		l.SetItemOffset(2, l.ItemOffset(2)-1)
	})
}
