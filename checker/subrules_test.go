package checker

import (
	"strings"
	"testing"

	"cowfs/disk/format"
)

// The tests in this file close the gaps the per-rule tests left inside a
// rule: sub-checks of btrfs-format.md §3 (mostly item sizes) that no other
// failing case reached. Each builds or corrupts one thing and expects exactly
// one rule, and the message of the sub-check, so a case cannot pass by
// tripping a neighbouring check of the same rule.

// leafCase is a block built with one malformed item (a wrong size cannot be
// made by editing one field in place), or a fixture with one field changed.
type leafCase struct {
	name   string
	block  func() []byte
	rule   int
	reason string // a substring of the sub-check's message
}

func runLeafCases(t *testing.T, cases []leafCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.block()
			err := CheckBlock(b, testCtx(), expectFor(b))
			assertOnlyRule(t, c.rule, err, CheckBlockAll(b, testCtx(), expectFor(b)))
			if !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("rule %d fired, but not the sub-check %q: %v", c.rule, c.reason, err)
			}
		})
	}
}

// fixtureWith returns a fixture with one edit applied and the checksum redone.
func fixtureWith(name string, edit func(t *testing.T, b []byte, exp *Expect, ctx *Context)) func() []byte {
	return func() []byte {
		b := fixtures[name]()
		edit(nil, b, &Expect{}, &Context{})
		resum(b)
		return b
	}
}

// slotKey finds key in b without a *testing.T (fixtureWith passes nil).
func mutDataNoT(key format.Key, f func(d []byte)) func(*testing.T, []byte, *Expect, *Context) {
	return func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
		l := format.Leaf(b)
		for i := range l.NrItems() {
			if l.ItemKey(i) == key {
				f(l.ItemData(i))
				return
			}
		}
		panic("key not in fixture")
	}
}

func mutKeyNoT(key, to format.Key) func(*testing.T, []byte, *Expect, *Context) {
	return func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
		l := format.Leaf(b)
		for i := range l.NrItems() {
			if l.ItemKey(i) == key {
				l.SetItemKey(i, to)
				return
			}
		}
		panic("key not in fixture")
	}
}

func withTail(b []byte, n int) []byte { return append(append([]byte(nil), b...), make([]byte, n)...) }

func TestItemSubRules(t *testing.T) {
	inode := func(n uint64, mode uint32) kv { return kv{k(n, format.InodeItemKey, 0), inodeItem(mode, 1)} }
	fs := func(items ...kv) func() []byte { return func() []byte { return buildLeaf(30408704, 5, items...) } }
	extent := func(items ...kv) func() []byte { return func() []byte { return buildLeaf(5259264, 2, items...) } }
	big := strings.Repeat("x", 5000)
	d2 := k(20975616, format.ExtentItemKey, 4096)
	sbrKey := k(5275648, format.SharedBlockRefKey, 5242880)
	deflt := k(6, format.DirItemKey, format.NameHash([]byte("default")))
	runLeafCases(t, []leafCase{
		// #22: an item whose data reaches back into the item headers.
		{"22 data overlaps item headers", func() []byte {
			// Item 0 still ends at the leaf end but starts at 3, inside
			// its own header (25 bytes): grow it backwards.
			b := buildLeaf(5373952, 7, kv{k(format.ExtentCsumObjectID, format.ExtentCsumKey, 13631488), make([]byte, 8)})
			l := format.Leaf(b)
			l.SetItemOffset(0, 3)
			l.SetItemSize(0, format.LeafDataSize(tNode)-3)
			resum(b)
			return b
		}, RuleItemLayout, "slot overlaps with its data"},
		// #25
		{"25 item size below 21", fs(inode(257, fileMode), kv{fe0, make([]byte, 20)}), RuleFileExtent, "invalid item size"},
		{"25 regular extent size not 53", fs(inode(257, fileMode), kv{fe0, regExtent(13631488, 4096, 0, 4096)[:52]}),
			RuleFileExtent, "invalid item size for reg/prealloc"},
		{"25 inline extent end rounded up overlaps the next", fs(inode(258, fileMode),
			kv{k(258, format.ExtentDataKey, 0), inlineExtent(big)},
			kv{k(258, format.ExtentDataKey, 4096), regExtent(13631488, 4096, 0, 4096)}),
			RuleFileExtent, "goes beyond start offset"},
		// #27
		{"27 entry header crosses item", fs(inode(256, dirMode), kv{k(256, format.DirIndexKey, 2), make([]byte, 20)}),
			RuleDirItem, "dir item header crosses item boundary"},
		{"27 location root id 0", fixtureWith("root", mutDataNoT(deflt, put64(0, 0))), RuleDirItem, "invalid root id 0"},
		{"27 name+data too long", fixtureWith("fs", mutDataNoT(xattr, put16(25, 0xffff))), RuleDirItem, "name and data len too long"},
		// #28
		{"28 extref size", fs(inode(257, fileMode), kv{xref, make([]byte, 18)}), RuleInodeRef, "invalid item size"},
		{"28 second ref header crosses item", fs(inode(257, fileMode), kv{ref257, withTail(inodeRef(2, "a"), 5)}),
			RuleInodeRef, "overflow"},
		// #29
		{"29 item size not 160", fs(kv{ino257, inodeItem(fileMode, 1)[:159]}), RuleInodeItem, "invalid item size"},
		// #31
		{"31 item size below 24", extent(kv{d2, make([]byte, 20)}), RuleExtentItem, "invalid item size"},
		{"31 tree block info missing", extent(kv{k(5259264, format.ExtentItemKey, tNode), extentItem(0, format.ExtentFlagTreeBlock, nil)}),
			RuleExtentItem, "tree block info overflows"},
		{"31 data extent keyed METADATA_ITEM", fixtureWith("extent", mutKeyNoT(d2, k(d2.ObjectID, format.MetadataItemKey, 0))),
			RuleExtentItem, "invalid key type for data backref"},
		{"31 trailing bytes after the inline refs", extent(kv{d2, withTail(extentItem(0, format.ExtentFlagData, nil), 5)}),
			RuleExtentItem, "inline ref item overflows"},
		// #32
		{"32 shared block ref bytenr unaligned", fixtureWith("extent", mutKeyNoT(sbrKey, k(sbrKey.ObjectID+1, sbrKey.Type, sbrKey.Offset))),
			RuleKeyedRef, "invalid key objectid"},
		{"32 extent data ref bytenr unaligned", extent(kv{k(13631489, format.ExtentDataRefKey, format.ExtentDataRefHash(5, 258, 0)),
			format.ExtentDataRef{Root: 5, ObjectID: 258, Count: 1}.Encode()}), RuleKeyedRef, "invalid key objectid"},
		// #33–#35: item sizes.
		{"33 block group size not 24", extent(kv{k(1048576, format.BlockGroupItemKey, 4194304), blockGroup(0, format.BlockGroupSystem)[:23]}),
			RuleBlockGroup, "invalid item size"},
		{"34 dev item size not 98", func() []byte {
			return buildLeaf(1064960, 3, kv{k(1, format.DevItemKey, 1), devItem(1, 256<<20, 0)[:97]})
		}, RuleDevItem, "invalid item size"},
		{"35 dev extent size not 48", func() []byte {
			return buildLeaf(5341184, 4, kv{k(1, format.DevExtentKey, 1048576), devExtent(1048576, 4194304)[:47]})
		}, RuleDevExtent, "invalid item size"},
	})
	// The valid counterpart of the inline-overlap case: a small inline
	// extent rounds up to one sector and the next extent may start there.
	b := buildLeaf(30408704, 5, inode(258, fileMode),
		kv{k(258, format.ExtentDataKey, 0), inlineExtent("short")},
		kv{k(258, format.ExtentDataKey, 4096), regExtent(13631488, 4096, 0, 4096)})
	if errs := CheckBlockAll(b, testCtx(), expectFor(b)); len(errs) != 0 {
		t.Fatalf("inline extent then a regular one at 4096: %v", errs)
	}
}

// TestChunkProfileRules reaches the per-profile stripe counts of #36 that a
// SINGLE-only image never exercises.
func TestChunkProfileRules(t *testing.T) {
	key := k(256, format.ChunkItemKey, 5242880)
	stripes := func(n int) []uint64 {
		p := make([]uint64, n)
		for i := range p {
			p[i] = 5242880 + uint64(i)*8388608
		}
		return p
	}
	for _, c := range []struct {
		name    string
		profile uint64
		n, sub  int
		reason  string
	}{
		{"RAID10 odd stripes", format.BlockGroupRaid10, 3, 2, "invalid num_stripes:sub_stripes 3:2"},
		{"RAID10 sub_stripes 1", format.BlockGroupRaid10, 4, 1, "invalid num_stripes:sub_stripes 4:1"},
		{"RAID1C3 four stripes", format.BlockGroupRaid1C3, 4, 1, "invalid num_stripes:sub_stripes"},
		{"RAID1C4 five stripes", format.BlockGroupRaid1C4, 5, 1, "invalid num_stripes:sub_stripes"},
		{"RAID5 only parity", format.BlockGroupRaid5, 1, 1, "num_stripes == nparity"},
		{"RAID6 only parity", format.BlockGroupRaid6, 2, 1, "num_stripes == nparity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := chunkItem(8388608, format.BlockGroupData|c.profile, stripes(c.n)...)
			ch.SubStripes = uint16(c.sub)
			err := CheckChunk(key, ch, testCtx())
			assertOnlyRule(t, RuleChunk, err, []*Error{err.(*Error)})
			if !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("want %q, got %v", c.reason, err)
			}
		})
	}
	// Valid counts of the same profiles pass.
	for _, c := range []struct {
		profile uint64
		n, sub  int
	}{{format.BlockGroupRaid10, 4, 2}, {format.BlockGroupRaid1C3, 3, 1}, {format.BlockGroupRaid1C4, 4, 1},
		{format.BlockGroupRaid5, 2, 1}, {format.BlockGroupRaid6, 3, 1}, {format.BlockGroupRaid0, 3, 1}} {
		ch := chunkItem(8388608, format.BlockGroupData|c.profile, stripes(c.n)...)
		ch.SubStripes = uint16(c.sub)
		if err := CheckChunk(key, ch, testCtx()); err != nil {
			t.Errorf("valid %#x with %d stripes: %v", c.profile, c.n, err)
		}
	}
	// A decoded struct whose stripe list disagrees with num_stripes.
	ch := chunkItem(8388608, format.BlockGroupData, 5242880)
	ch.NumStripes = 2
	err := CheckChunk(key, ch, testCtx())
	assertOnlyRule(t, RuleChunk, err, []*Error{err.(*Error)})
}

// TestSuperSubRules: sub-checks of #4, #9 and #11 the main table misses.
func TestSuperSubRules(t *testing.T) {
	s := validSuper()
	le.PutUint16(s.SysChunkArray[17+44:], 2) // two stripes claimed, one stored
	raw := s.EncodeWithCsum()
	_, err := CheckSuper(s, raw, format.SuperInfoOffset)
	errs, _ := CheckSuperAll(s, raw, format.SuperInfoOffset)
	assertOnlyRule(t, RuleSuperSysArray, err, errs)
	if !strings.Contains(err.Error(), "sys_array too short") {
		t.Fatalf("message: %v", err)
	}

	s = validSuper()
	s.NumDevices = 1<<31 + 1
	errs, warns := CheckSuperAll(s, s.EncodeWithCsum(), format.SuperInfoOffset)
	if len(errs) != 0 || len(warns) != 1 || warns[0].Rule != RuleSuperSuspicious ||
		!strings.Contains(warns[0].Error(), "suspicious number of devices") {
		t.Fatalf("want one rule 11 warning, got errs %v warnings %v", errs, warns)
	}
	recordRule(t, RuleSuperSuspicious)
}
