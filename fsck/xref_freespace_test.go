package fsck_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/fsck/fscktest"
)

// fsCase is a free-space corruption with the words our report must say:
// every one is rule #58, so the rule alone cannot tell them apart.
type fsCase struct {
	corruption
	ours string
}

// runFreeSpaceCases runs each case as runCorruptions does and requires a
// #58 problem saying ours.
func runFreeSpaceCases(t *testing.T, base string, cases []fsCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := applyCorruption(t, base, c.corruption)
			for _, p := range problemsWith(rep, fsck.KindFreeSpace, 58) {
				if strings.Contains(p.Message, c.ours) {
					return
				}
			}
			t.Fatalf("no #58 problem says %q", c.ours)
		})
	}
}

// TestXrefFreeSpaceShape damages the shape of the free-space tree of a
// default mkfs.btrfs image the kernel filled (#58): each item's own form,
// the info's flags, and entries that list a byte twice.
func TestXrefFreeSpaceShape(t *testing.T) {
	t.Parallel()
	base := kernelImage(t)
	requireNoXref(t, check(t, base))
	lastExtent := func(t *testing.T, img string) fscktest.ItemRef {
		return lastItem(t, img, format.FreeSpaceTreeObjectID, format.FreeSpaceExtentKey)
	}
	lastInfo := func(t *testing.T, img string) fscktest.ItemRef {
		return lastItem(t, img, format.FreeSpaceTreeObjectID, format.FreeSpaceInfoKey)
	}
	runFreeSpaceCases(t, base, []fsCase{
		{corruption{"extent not whole sectors", fsck.KindFreeSpace, 58, mustFail, "wanted bytes", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, lastExtent(t, img), func(l format.Leaf, s int) {
				setKey(l, s, func(k *format.Key) { k.Offset -= 512 })
			})
		}}, "is not whole sectors"},
		// btrfs check 6.2 and the kernel read only the bitmap flag, and
		// read an info's 8 bytes whatever the item's size: ours alone.
		{corruption{"unknown info flag", fsck.KindFreeSpace, 58, mayPass, "", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, lastInfo(t, img), func(l format.Leaf, s int) { addU32(l.ItemData(s)[4:], 2) })
		}}, "unknown flags 0x2"},
		{corruption{"bitmap flag on extents", fsck.KindFreeSpace, 58, mustFail, "free space info recorded 1 extents, counted 0", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, lastInfo(t, img), func(l format.Leaf, s int) { addU32(l.ItemData(s)[4:], 1) })
		}}, "but the group has"},
		{corruption{"info item size", fsck.KindFreeSpace, 58, mayPass, "", func(t *testing.T, img string) {
			fscktest.EditItem(t, img, lastInfo(t, img), func(l format.Leaf, s int) {
				k, data := l.ItemKey(s), append([]byte(nil), l.ItemData(s)[:4]...)
				fscktest.RemoveItem(l, s)
				require.NoError(t, fscktest.InsertItem(l, s, k, data))
			})
		}}, "FREE_SPACE_INFO item size 4"},
		{corruption{"group without info", fsck.KindFreeSpace, 58, mustFail, "error(s) found", func(t *testing.T, img string) {
			fscktest.DeleteItem(t, img, lastInfo(t, img))
		}}, "has no FREE_SPACE_INFO"},
		{corruption{"overlapping extents", fsck.KindFreeSpace, 58, mustFail, "free space info recorded 1 extents, counted 2", func(t *testing.T, img string) {
			last := lastExtent(t, img)
			require.Greater(t, last.Key.Offset, uint64(2*4096))
			fscktest.EditItem(t, img, last, func(l format.Leaf, s int) {
				dup := format.Key{ObjectID: last.Key.ObjectID + 4096, Type: format.FreeSpaceExtentKey, Offset: 4096}
				require.NoError(t, fscktest.InsertItem(l, s+1, dup, nil))
			})
		}}, "overlap"},
	})
}
