package checker

import (
	"errors"
	"testing"

	"cowfs/disk/format"
)

// validSuper is a consistent one-device superblock like mkfs writes.
func validSuper() *format.Super {
	s := &format.Super{
		Fsid: tFsid, Bytenr: format.SuperInfoOffset, Flags: format.SuperFlagWritten, Magic: format.Magic,
		Generation: tGen, Root: 5242880, ChunkRoot: 1064960, TotalBytes: 256 << 20, BytesUsed: 131072,
		RootDirObjectID: 6, NumDevices: 1, SectorSize: tSector, NodeSize: tNode, LeafSize: tNode,
		StripeSize: tSector, ChunkRootGeneration: tGen, IncompatFlags: format.IncompatDefault,
		CsumType: format.CsumXXHash, CacheGeneration: ^uint64(0), UUIDTreeGeneration: tGen,
	}
	s.DevItem = format.DevItem{DevID: 1, TotalBytes: 256 << 20, BytesUsed: 20 << 20, IOAlign: tSector,
		IOWidth: tSector, SectorSize: tSector, UUID: tDevUUID, Fsid: tFsid}
	err := s.SetSysChunks([]format.SysChunk{{Key: k(256, format.ChunkItemKey, 1048576),
		Chunk: chunkItem(4194304, format.BlockGroupSystem, 1048576)}})
	if err != nil {
		panic(err)
	}
	return s
}

// superCase edits one field (edit, before the checksum is computed), or the
// stored bytes (raw, after), or checks the copy as if read at mirror.
type superCase struct {
	name   string
	edit   func(s *format.Super)
	raw    func(b []byte)
	mirror int64 // 0: the primary offset
	rule   int
}

func TestValidSuper(t *testing.T) {
	s := validSuper()
	raw := s.EncodeWithCsum()
	w, err := CheckSuper(s, raw, format.SuperInfoOffset)
	if err != nil || len(w) != 0 {
		t.Fatalf("valid super: %v %v", w, err)
	}
	if errs, ws := CheckSuperAll(s, nil, -1); len(errs)+len(ws) != 0 {
		t.Fatalf("valid super (raw nil): %v %v", errs, ws)
	}
	if CheckSuperFsid(s, tFsid) != nil {
		t.Fatal("CheckSuperFsid rejected the fsid")
	}
	err = CheckSuperFsid(s, format.UUID{1})
	assertOnlyRule(t, RuleSuperFsid, err, []*Error{err.(*Error)})
	ctx := ContextFromSuper(s)
	if ctx.Fsid != tFsid || ctx.NodeSize != tNode || ctx.SectorSize != tSector || ctx.SuperGeneration != tGen {
		t.Fatalf("ContextFromSuper: %+v", ctx)
	}
}

func TestSuperRules(t *testing.T) {
	type S = format.Super
	cases := []superCase{
		{name: "1 magic", edit: func(s *S) { s.Magic ^= 1 }, rule: RuleSuperMagic},
		{name: "1 csum type", edit: func(s *S) { s.CsumType = 4 }, rule: RuleSuperMagic},
		{name: "1 checksum", raw: func(b []byte) { b[0] ^= 1 }, rule: RuleSuperMagic},
		{name: "1 checksummed byte", raw: func(b []byte) { b[format.SuperSize-1] ^= 1 }, rule: RuleSuperMagic},
		{name: "2 unknown flag", edit: func(s *S) { s.Flags |= 1 << 20 }, rule: RuleSuperFlags},
		{name: "3 root level", edit: func(s *S) { s.RootLevel = 8 }, rule: RuleSuperLevels},
		{name: "3 log root level", edit: func(s *S) { s.LogRootLevel = 9 }, rule: RuleSuperLevels},
		{name: "4 leafsize", edit: func(s *S) { s.LeafSize = 8192 }, rule: RuleSuperSizes},
		{name: "4 nodesize", edit: func(s *S) { s.NodeSize, s.LeafSize = 12288, 12288 }, rule: RuleSuperSizes},
		{name: "5 root unaligned", edit: func(s *S) { s.Root += 512 }, rule: RuleSuperAlign},
		{name: "5 chunk root unaligned", edit: func(s *S) { s.ChunkRoot++ }, rule: RuleSuperAlign},
		{name: "6 dev_item fsid", edit: func(s *S) { s.DevItem.Fsid = format.UUID{7} }, rule: RuleSuperFsid},
		{name: "6 metadata_uuid", edit: func(s *S) { s.IncompatFlags |= format.IncompatMetadataUUID }, rule: RuleSuperFsid},
		{name: "7 block-group-tree", edit: func(s *S) { s.CompatRoFlags |= format.CompatRoBlockGroupTree }, rule: RuleSuperFeatures},
		{name: "8 bytes_used", edit: func(s *S) { s.BytesUsed = 5 * tNode }, rule: RuleSuperCounts},
		{name: "8 stripesize", edit: func(s *S) { s.StripeSize = 3000 }, rule: RuleSuperCounts},
		{name: "8 num_devices", edit: func(s *S) { s.NumDevices = 0 }, rule: RuleSuperCounts},
		{name: "8 mirror bytenr", mirror: format.MirrorOffset(1), rule: RuleSuperCounts},
		{name: "9 array too small", edit: func(s *S) { s.SysChunkArraySize = 50 }, rule: RuleSuperSysArray},
		{name: "9 array too big", edit: func(s *S) { s.SysChunkArraySize = 3000 }, rule: RuleSuperSysArray},
		{name: "9 truncated entry", edit: func(s *S) { s.SysChunkArraySize = 120 }, rule: RuleSuperSysArray},
		{name: "9 key type", edit: func(s *S) { s.SysChunkArray[8] = format.DevItemKey }, rule: RuleSuperSysArray},
		{name: "9 not SYSTEM", edit: func(s *S) { le.PutUint64(s.SysChunkArray[17+24:], format.BlockGroupMetadata) }, rule: RuleSuperSysArray},
		{name: "9 no stripes", edit: func(s *S) { le.PutUint16(s.SysChunkArray[17+44:], 0) }, rule: RuleSuperSysArray},
		{name: "9 chunk rule: stripe_len", edit: func(s *S) { le.PutUint64(s.SysChunkArray[17+16:], 32768) }, rule: RuleSuperSysArray},
		{name: "10 incompat", edit: func(s *S) { s.IncompatFlags |= 1 << 40 }, rule: RuleSuperIncompat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSuper()
			if c.edit != nil {
				c.edit(s)
			}
			raw := s.EncodeWithCsum()
			if c.raw != nil {
				c.raw(raw)
			}
			mirror := c.mirror
			if mirror == 0 {
				mirror = format.SuperInfoOffset
			}
			_, err := CheckSuper(s, raw, mirror)
			errs, _ := CheckSuperAll(s, raw, mirror)
			assertOnlyRule(t, c.rule, err, errs)
		})
	}
}

func TestSuperSuspicious(t *testing.T) {
	for _, edit := range []func(s *format.Super){
		func(s *format.Super) { s.ChunkRootGeneration = tGen + 1 },
		func(s *format.Super) { s.CacheGeneration = tGen + 1 },
		func(s *format.Super) { s.CompatRoFlags |= 1 << 20 },
	} {
		s := validSuper()
		edit(s)
		raw := s.EncodeWithCsum()
		errs, warns := CheckSuperAll(s, raw, format.SuperInfoOffset)
		if len(errs) != 0 || len(warns) != 1 || warns[0].Rule != RuleSuperSuspicious {
			t.Fatalf("want one rule 11 warning, got errs %v warnings %v", errs, warns)
		}
		w, err := CheckSuper(s, raw, format.SuperInfoOffset)
		if err != nil || len(w) != 1 {
			t.Fatalf("CheckSuper: %v %v", w, err)
		}
		t.Logf("rule 11: %s", w[0])
		recordRule(t, RuleSuperSuspicious)
	}
}

func TestSuperCollectsAll(t *testing.T) {
	s := validSuper()
	s.Flags |= 1 << 20
	s.RootLevel = 8
	s.NumDevices = 0
	raw := s.EncodeWithCsum()
	errs, _ := CheckSuperAll(s, raw, format.SuperInfoOffset)
	if len(errs) != 3 || errs[0].Rule != RuleSuperFlags || errs[1].Rule != RuleSuperLevels || errs[2].Rule != RuleSuperCounts {
		t.Fatalf("got %v", errs)
	}
	_, err := CheckSuper(s, raw, format.SuperInfoOffset)
	var e *Error
	if !errors.As(err, &e) || e.Rule != RuleSuperFlags {
		t.Fatalf("first error: %v", err)
	}
	if _, err := CheckSuper(s, make([]byte, 100), 0); err == nil || errors.Is(err, format.ErrCorrupt) {
		t.Fatalf("short raw buffer: %v", err)
	}
}
