package checker

import (
	"errors"
	"testing"

	"cowfs/disk/format"
)

// FuzzCheckBlock feeds arbitrary bytes (as a nodesize block, also with a
// fresh checksum so the structure and item checks are reached) to every
// block checker: none may panic, every error must carry a known rule and
// match ErrCorrupt, and the first-error and collect-all modes must agree.
func FuzzCheckBlock(f *testing.F) {
	for _, fix := range fixtures {
		f.Add(fix())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := make([]byte, tNode)
		copy(b, data)
		ctx := testCtx()
		exp := Expect{Bytenr: format.Header(b).Bytenr(), Level: -1}
		fuzzOne(t, b, ctx, exp)
		resum(b)
		fuzzOne(t, b, ctx, exp)
		exp.FirstKey, exp.Owner, exp.Level = keyPtr(k(256, 1, 0)), 5, 0
		fuzzOne(t, b, ctx, exp)
		_ = CheckWrite(b, ctx, 3)
		_ = CheckLeaf(b, ctx)
		_ = CheckNode(b, ctx)
	})
}

func fuzzOne(t *testing.T, b []byte, ctx Context, exp Expect) {
	first := CheckBlock(b, ctx, exp)
	all := CheckBlockAll(b, ctx, exp)
	if (first == nil) != (len(all) == 0) {
		t.Fatalf("modes disagree: first %v, all %v", first, all)
	}
	if first != nil && first.Error() != all[0].Error() {
		t.Fatalf("first errors differ:\n%v\n%v", first, all[0])
	}
	for _, e := range all {
		if e.Rule < 1 || e.Rule > MaxRule || !errors.Is(e, format.ErrCorrupt) || e.Error() == "" {
			t.Fatalf("bad error %#v", e)
		}
	}
}

// FuzzCheckSuper does the same for superblocks.
func FuzzCheckSuper(f *testing.F) {
	f.Add(validSuper().EncodeWithCsum())
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := make([]byte, format.SuperSize)
		copy(raw, data)
		s, err := format.DecodeSuper(raw)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			_, first := CheckSuper(s, raw, format.SuperInfoOffset)
			all, _ := CheckSuperAll(s, raw, format.SuperInfoOffset)
			if (first == nil) != (len(all) == 0) || (first != nil && first.Error() != all[0].Error()) {
				t.Fatalf("modes disagree: %v / %v", first, all)
			}
			if s.CsumType.Valid() {
				s.CsumType.SetBlockCsum(raw)
			}
		}
	})
}
