package checker

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"cowfs/disk/format"
)

// blockCase starts from a valid fixture, corrupts one thing and expects
// exactly one rule to fire. mutate may also adjust the Expect or Context.
type blockCase struct {
	name    string
	fixture string
	mutate  func(t *testing.T, b []byte, exp *Expect, ctx *Context)
	noResum bool // leave the checksum stale (the checksum test)
	rule    int
}

// run checks the fixture is valid, applies the corruption and asserts the rule.
func (c blockCase) run(t *testing.T) {
	b := fixtures[c.fixture]()
	exp, ctx := expectFor(b), testCtx()
	if errs := CheckBlockAll(b, ctx, exp); len(errs) != 0 {
		t.Fatalf("fixture %s not valid: %v", c.fixture, errs)
	}
	c.mutate(t, b, &exp, &ctx)
	if !c.noResum {
		resum(b)
	}
	assertOnlyRule(t, c.rule, CheckBlock(b, ctx, exp), CheckBlockAll(b, ctx, exp))
}

func runCases(t *testing.T, cases []blockCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func hdr(b []byte) format.Header { return format.Header(b) }

func TestValidFixtures(t *testing.T) {
	for name, f := range fixtures {
		b := f()
		exp := expectFor(b)
		if errs := CheckBlockAll(b, testCtx(), exp); len(errs) != 0 {
			t.Errorf("%s: %v", name, errs)
		}
		if err := CheckBlock(b, testCtx(), exp); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := CheckWrite(b, testCtx(), tGen-1); err != nil {
			t.Errorf("%s: CheckWrite: %v", name, err)
		}
	}
}

func TestValidWithFirstKeyAndChild(t *testing.T) {
	node := fsNode()
	exp, ok := ExpectChild(node, 0, 5)
	if !ok || exp.Level != 0 || exp.Bytenr != 30408704 || exp.Generation != 9 {
		t.Fatalf("ExpectChild = %+v, %v", exp, ok)
	}
	leaf := fsLeaf()
	exp.Generation = tGen
	if err := CheckBlock(leaf, testCtx(), exp); err != nil {
		t.Fatal(err)
	}
	if _, ok := ExpectChild(leaf, 0, 5); ok {
		t.Fatal("ExpectChild accepted a leaf as parent")
	}
	if _, ok := ExpectChild(node, 3, 5); ok {
		t.Fatal("ExpectChild accepted slot past nritems")
	}
}

func TestHeaderRules(t *testing.T) {
	runCases(t, []blockCase{
		{"12 bytenr", "fs", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetBytenr(hdr(b).Bytenr() + tNode)
		}, false, RuleBytenr},
		{"13 fsid", "root", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetFsid(format.UUID{9})
		}, false, RuleFsid},
		{"14 level 8", "csum", func(_ *testing.T, b []byte, exp *Expect, _ *Context) {
			hdr(b).SetLevel(8)
			exp.Level = -1
		}, false, RuleLevelCsum},
		{"14 csum", "extent", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			b[3] ^= 0x40
		}, true, RuleLevelCsum},
		{"14 csum of a changed byte", "node", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			b[tNode-1] ^= 1
		}, true, RuleLevelCsum},
		{"15 level", "fs", func(_ *testing.T, _ []byte, exp *Expect, _ *Context) {
			exp.Level = 1
		}, false, RuleLevel},
		{"16 transid", "dev", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetGeneration(tGen - 1)
		}, false, RuleTransid},
		{"17 first key", "root", func(_ *testing.T, b []byte, exp *Expect, _ *Context) {
			exp.FirstKey = keyPtr(k(2, format.RootItemKey, 0))
			format.Leaf(b).SetItemKey(0, k(2, format.RootItemKey, 1))
		}, false, RuleFirstKey},
		{"17 first key of empty block", "csum", func(_ *testing.T, b []byte, exp *Expect, _ *Context) {
			exp.FirstKey = keyPtr(k(format.ExtentCsumObjectID, format.ExtentCsumKey, 13631488))
			hdr(b).SetNrItems(0)
		}, false, RuleFirstKey},
		{"18 owner of a tree", "csum", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetOwner(9)
		}, false, RuleOwner},
		{"18 owner of a subvolume", "fs", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetOwner(format.ExtentTreeObjectID)
		}, false, RuleOwner},
	})
}

func TestLeafStructureRules(t *testing.T) {
	runCases(t, []blockCase{
		{"19 WRITTEN not set", "fs", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetWritten(false)
		}, false, RuleLeafHeader},
		{"21 key order", "root", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			format.Leaf(b).SetItemKey(1, k(1, format.RootItemKey, 0))
		}, false, RuleKeyOrder},
		{"22 item offset", "fs", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			l := format.Leaf(b)
			l.SetItemOffset(3, l.ItemOffset(3)-1)
		}, false, RuleItemLayout},
		{"22 item size past leaf end", "dev", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			l := format.Leaf(b)
			l.SetItemSize(0, l.ItemSize(0)+1)
		}, false, RuleItemLayout},
		{"22 nritems", "csum", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetNrItems(1000)
		}, false, RuleItemLayout},
		{"22 huge offset", "chunk", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			format.Leaf(b).SetItemOffset(2, 0xfffffff0)
		}, false, RuleItemLayout},
	})
}

func TestLeafLevelRule(t *testing.T) {
	err := CheckLeaf(fsNode(), testCtx())
	assertOnlyRule(t, RuleLeafHeader, err, []*Error{err.(*Error)})
}

func TestEmptyLeafRule(t *testing.T) {
	if err := CheckBlock(buildLeaf(5373952, 7), testCtx(), ExpectAt(5373952)); err != nil {
		t.Fatalf("empty csum leaf: %v", err)
	}
	for _, owner := range []uint64{1, 2, 3, 4, 5, format.DataRelocTreeObjectID, 0} {
		b := buildLeaf(5373952, 7)
		hdr(b).SetOwner(owner)
		resum(b)
		assertOnlyRule(t, RuleEmptyLeaf, CheckBlock(b, testCtx(), ExpectAt(5373952)),
			CheckBlockAll(b, testCtx(), ExpectAt(5373952)))
	}
	ctx := testCtx()
	ctx.Incompat |= format.IncompatExtentTreeV2
	b := buildLeaf(5373952, 2)
	if err := CheckBlock(b, ctx, ExpectAt(5373952)); err != nil {
		t.Fatalf("empty extent leaf with extent-tree-v2: %v", err)
	}
}

func TestNodeRules(t *testing.T) {
	runCases(t, []blockCase{
		{"23 NULL pointer", "node", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			format.Node(b).SetBlockPtr(2, 0)
		}, false, RuleNode},
		{"23 unaligned pointer", "node", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			format.Node(b).SetBlockPtr(1, 30441472+512)
		}, false, RuleNode},
		{"23 key order", "node", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			format.Node(b).SetKey(1, k(256, format.InodeItemKey, 0))
		}, false, RuleNode},
		{"23 nritems 0", "node", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetNrItems(0)
		}, false, RuleNode},
		{"23 nritems over max", "node", func(_ *testing.T, b []byte, _ *Expect, _ *Context) {
			hdr(b).SetNrItems(uint32(format.MaxKeyPtrs(tNode) + 1))
		}, false, RuleNode},
	})
	err := CheckNode(fsLeaf(), testCtx())
	assertOnlyRule(t, RuleNode, err, []*Error{err.(*Error)})
}

func TestWriteRule(t *testing.T) {
	for name, f := range fixtures {
		b := f()
		if err := CheckWrite(b, testCtx(), tGen-1); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err := CheckWrite(b, testCtx(), tGen)
		assertOnlyRule(t, RuleWriteGen, err, []*Error{err.(*Error)})
		if !strings.Contains(err.Error(), "bad generation, have 10 expect > 10") {
			t.Fatalf("message: %v", err)
		}
	}
	// One field: a block whose header generation is that of the last commit.
	b0 := fsLeaf()
	if err := CheckWrite(b0, testCtx(), tGen-1); err != nil {
		t.Fatal(err)
	}
	hdr(b0).SetGeneration(tGen - 1)
	resum(b0)
	err := CheckWrite(b0, testCtx(), tGen-1)
	assertOnlyRule(t, RuleWriteGen, err, []*Error{err.(*Error)})
	// The write-time checks include structure and items, not the checksum.
	b := fsLeaf()
	format.Leaf(b).SetItemKey(1, k(255, format.InodeRefKey, 0))
	var e *Error
	if err := CheckWrite(b, testCtx(), tGen-1); !errors.As(err, &e) || e.Rule != RuleKeyOrder {
		t.Fatalf("CheckWrite on bad key order: %v", err)
	}
}

func TestInputErrors(t *testing.T) {
	bad := testCtx()
	bad.NodeSize = 1000
	for _, c := range []struct {
		name  string
		block []byte
		ctx   Context
	}{
		{"short block", make([]byte, 100), testCtx()},
		{"nil block", nil, testCtx()},
		{"bad nodesize", make([]byte, 1000), bad},
		{"bad csum type", fsLeaf(), Context{NodeSize: tNode, SectorSize: tSector, CsumType: 9}},
		{"zero sectorsize", fsLeaf(), Context{NodeSize: tNode, CsumType: format.CsumCRC32C}},
	} {
		err := CheckBlock(c.block, c.ctx, ExpectAt(0))
		var e *Error
		if !errors.As(err, &e) || e.Rule != RuleInput {
			t.Fatalf("%s: want RuleInput, got %v", c.name, err)
		}
		if errors.Is(err, format.ErrCorrupt) {
			t.Fatalf("%s: RuleInput must not match ErrCorrupt", c.name)
		}
		if CheckWrite(c.block, c.ctx, 0) == nil || CheckLeaf(c.block, c.ctx) == nil || CheckNode(c.block, c.ctx) == nil {
			t.Fatalf("%s: a checker accepted bad input", c.name)
		}
	}
}

func TestMessages(t *testing.T) {
	e := &Error{Rule: RuleKeyOrder, Kind: KindLeaf, Root: 5, Block: 30408704, Slot: 3,
		Reason: "invalid key order", Have: "(256 INODE_ITEM 0)", Expect: "greater than (257 INODE_ITEM 0)"}
	want := "corrupt leaf: root=5 block=30408704 slot=3, invalid key order, have (256 INODE_ITEM 0) expect greater than (257 INODE_ITEM 0)"
	if e.Error() != want {
		t.Fatalf("got  %q\nwant %q", e.Error(), want)
	}
	b := fsLeaf()
	format.Leaf(b).SetItemKey(3, k(256, format.InodeItemKey, 0))
	resum(b)
	err := CheckBlock(b, testCtx(), expectFor(b))
	for _, c := range []struct{ got, want string }{
		{err.Error(), fmt.Sprintf("corrupt leaf: root=5 block=30408704 slot=3, invalid key order, have (256 INODE_ITEM 0) expect greater than (256 XATTR_ITEM %d)",
			format.NameHash([]byte("user.x")))},
		{(&Error{Kind: KindNode, Root: 5, Block: 8, Slot: -1, Reason: "invalid nritems", Have: "0", Expect: "[1, 493]"}).Error(),
			"corrupt node: root=5 block=8, invalid nritems, have 0 expect [1, 493]"},
		{(&Error{Kind: KindSuper, Reason: "bytes_used is too small", Have: "4096", Expect: "at least 98304"}).Error(),
			"bad superblock: bytes_used is too small, have 4096 expect at least 98304"},
		{(&Error{Kind: KindSysChunk, Key: keyPtr(k(256, format.ChunkItemKey, 1048576)), Reason: "invalid chunk stripe length", Have: "32768", Expect: "65536"}).Error(),
			"corrupt superblock syschunk array: chunk_start=1048576, invalid chunk stripe length, have 32768 expect 65536"},
		{(&Error{Kind: KindBlock, Root: 5, Block: 30408704, Slot: -1, Reason: "parent transid verify failed", Have: "7", Expect: "8"}).Error(),
			"bad tree block: root=5 block=30408704, parent transid verify failed, have 7 expect 8"},
		{(&Error{Kind: KindTree, Root: 256, Block: 5259264, Level: 1, Slot: 3, Reason: "key pointer generation mismatch", Have: "7", Expect: "9"}).Error(),
			"corrupt tree: root=256 block=5259264 level=1 slot=3, key pointer generation mismatch, have 7 expect 9"},
		{(&Error{Kind: KindTree, Root: 5, Block: 8, Slot: -1, Reason: "leaf check failed", Err: errors.New("corrupt leaf: …")}).Error(),
			"corrupt tree: root=5 block=8 level=0, leaf check failed: corrupt leaf: …"},
		{(&Error{Kind: KindExtentRef, Root: 7, Block: 5505024, Reason: "unable to find ref"}).Error(),
			"corrupt extent tree: bytenr=5505024 root=7 level=0, unable to find ref"},
		{(&Error{Kind: KindExtentRef, Root: 5, Block: 31457280, Key: keyPtr(k(257, format.ExtentDataKey, 4096)), Reason: "unable to find ref"}).Error(),
			"corrupt extent tree: bytenr=31457280 root=5 objectid=257 offset=4096, unable to find ref"},
		{(&Error{Kind: KindExtentRef, Block: 31457280, Reason: "two extent items"}).Error(),
			"corrupt extent tree: bytenr=31457280, two extent items"},
	} {
		if c.got != c.want {
			t.Errorf("got  %q\nwant %q", c.got, c.want)
		}
	}
}

// TestErrorWraps: the one corruption type unwraps to the error that
// revealed the fault and matches format.ErrCorrupt for every kind.
func TestErrorWraps(t *testing.T) {
	cause := errors.New("read failed")
	for _, kind := range []Kind{KindLeaf, KindTree, KindExtentRef} {
		e := error(&Error{Rule: RuleLevelCsum, Kind: kind, Err: cause})
		if !errors.Is(e, format.ErrCorrupt) || !errors.Is(e, cause) {
			t.Errorf("%v: errors.Is ErrCorrupt %t, cause %t", kind, errors.Is(e, format.ErrCorrupt), errors.Is(e, cause))
		}
	}
}

func TestSeedFsidAccepted(t *testing.T) {
	b := fsLeaf()
	seed := format.UUID{0x5e, 0xed}
	hdr(b).SetFsid(seed)
	resum(b)
	ctx := testCtx()
	ctx.SeedFsids = []format.UUID{seed}
	if err := CheckBlock(b, ctx, expectFor(b)); err != nil {
		t.Fatal(err)
	}
}

func TestCollectAllKeepsGoing(t *testing.T) {
	b := fsLeaf()
	l := format.Leaf(b)
	inodeAt := func(key format.Key) []byte {
		return l.ItemData(slotOf(t, b, key))
	}
	le.PutUint32(inodeAt(k(257, format.InodeItemKey, 0))[52:], 0o170644) // bad mode
	le.PutUint32(inodeAt(k(256, format.InodeItemKey, 0))[40:], 2)        // dir nlink 2
	b[3] ^= 1                                                            // and a stale checksum
	errs := CheckBlockAll(b, testCtx(), expectFor(b))
	rules := map[int]int{}
	for _, e := range errs {
		rules[e.Rule]++
	}
	if len(errs) != 3 || rules[RuleLevelCsum] != 1 || rules[RuleInodeItem] != 2 {
		t.Fatalf("want csum + 2 inode errors, got %v", errs)
	}
}
