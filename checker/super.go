package checker

import (
	"fmt"
	"os"

	"cowfs/disk/format"
)

// CheckSuper validates a superblock copy read at mirrorOffset (#1–#10; a
// negative offset skips the bytenr rule). raw is the 4096 bytes s was decoded
// from, for the checksum; nil means s.Encode(). It returns the first failure
// as an *Error, and the #11 warnings as text.
func CheckSuper(s *format.Super, raw []byte, mirrorOffset int64) (warnings []string, err error) {
	sc := newSuperCheck(s, raw, mirrorOffset, false)
	sc.run()
	for _, w := range sc.warn {
		warnings = append(warnings, w.Error())
	}
	return warnings, sc.r.err()
}

// CheckSuperAll is CheckSuper collecting every failure; warnings are *Error
// values with Rule 11 (RuleSuperSuspicious).
func CheckSuperAll(s *format.Super, raw []byte, mirrorOffset int64) (errs, warnings []*Error) {
	sc := newSuperCheck(s, raw, mirrorOffset, true)
	sc.run()
	return sc.r.errs, sc.warn
}

// CheckSuperFsid checks that s belongs to the filesystem with fsid (#6's
// "fsid matches the scanned device set"), e.g. a mirror against the primary.
func CheckSuperFsid(s *format.Super, fsid format.UUID) error {
	if s.Fsid != fsid {
		return superErr(RuleSuperFsid, "superblock fsid doesn't match fs_devices", s.Fsid, fsid)
	}
	return nil
}

type superCheck struct {
	r      *report
	s      *format.Super
	raw    []byte
	mirror int64
	warn   []*Error
}

func newSuperCheck(s *format.Super, raw []byte, mirror int64, all bool) *superCheck {
	if raw == nil {
		raw = s.Encode()
	}
	return &superCheck{r: &report{all: all}, s: s, raw: raw, mirror: mirror}
}

func superErr(rule int, reason string, have, expect any) *Error {
	e := &Error{Rule: rule, Kind: KindSuper, Slot: -1, Reason: reason}
	if have != nil || expect != nil {
		e.WithHE(have, expect)
	}
	return e
}

func (sc *superCheck) fail(rule int, reason string, have, expect any) {
	sc.r.add(superErr(rule, reason, have, expect))
}

func (sc *superCheck) run() {
	sc.suspicious()
	if len(sc.raw) != format.SuperSize {
		sc.r.add(superErr(RuleInput, "superblock buffer size", len(sc.raw), format.SuperSize))
		return
	}
	for _, step := range []func(){sc.magicCsum, sc.flags, sc.levels, sc.sizes, sc.alignment,
		sc.fsid, sc.features, sc.counts, sc.sysArray, sc.incompat} {
		if step(); sc.r.done() {
			return
		}
	}
}

// magicCsum checks #1: magic, csum type, checksum.
func (sc *superCheck) magicCsum() {
	s := sc.s
	if s.Magic != format.Magic {
		sc.fail(RuleSuperMagic, "no valid FS found, bad magic", hexU(s.Magic), hexU(format.Magic))
	}
	switch {
	case !s.CsumType.Valid():
		sc.fail(RuleSuperMagic, "unsupported checksum algorithm", uint16(s.CsumType), "0, 1, 2 or 3")
	case !s.CsumType.VerifyBlockCsum(sc.raw):
		sc.fail(RuleSuperMagic, "superblock checksum mismatch", nil, nil)
	}
}

// flags checks #2: no unknown superblock flag.
func (sc *superCheck) flags() {
	if bad := sc.s.Flags &^ format.SuperFlagsKnown; bad != 0 {
		sc.fail(RuleSuperFlags, "unrecognized or unsupported super flag", hexU(bad), "mask "+hexU(format.SuperFlagsKnown))
	}
}

// levels checks #3: the three root levels are below 8.
func (sc *superCheck) levels() {
	for _, l := range []struct {
		name string
		v    uint8
	}{{"tree_root", sc.s.RootLevel}, {"chunk_root", sc.s.ChunkRootLevel}, {"log_root", sc.s.LogRootLevel}} {
		if l.v >= format.MaxLevel {
			sc.fail(RuleSuperLevels, l.name+" level too big", l.v, "< 8")
		}
	}
}

// sizes checks #4: sectorsize, nodesize and the legacy leafsize.
func (sc *superCheck) sizes() {
	s := sc.s
	if !validSectorSize(s.SectorSize) {
		sc.fail(RuleSuperSizes, "invalid sectorsize", s.SectorSize,
			fmt.Sprintf("4096 or the page size %d", os.Getpagesize()))
	}
	if n := s.NodeSize; !isPow2(uint64(n)) || n < s.SectorSize || n > 65536 {
		sc.fail(RuleSuperSizes, "invalid nodesize", n, "a power of 2 in [sectorsize, 65536]")
	}
	if s.LeafSize != s.NodeSize {
		sc.fail(RuleSuperSizes, "invalid leafsize", s.LeafSize, s.NodeSize)
	}
}

// validSectorSize: a power of two in [4 KiB, 64 KiB], 4 KiB or the page size.
func validSectorSize(v uint32) bool {
	return isPow2(uint64(v)) && v >= 4096 && v <= 65536 &&
		(v == 4096 || int(v) == os.Getpagesize())
}

// alignment checks #5 (only with a usable sectorsize: #4 reports the rest).
func (sc *superCheck) alignment() {
	s := sc.s
	if !isPow2(uint64(s.SectorSize)) {
		return
	}
	for _, r := range []struct {
		name string
		v    uint64
	}{{"tree_root", s.Root}, {"chunk_root", s.ChunkRoot}, {"log_root", s.LogRoot}} {
		if r.v%uint64(s.SectorSize) != 0 {
			sc.fail(RuleSuperAlign, r.name+" block unaligned", r.v, alignedTo(s.SectorSize))
		}
	}
}

// fsid checks #6: the device item belongs to this filesystem's metadata.
func (sc *superCheck) fsid() {
	s := sc.s
	if s.IncompatFlags&format.IncompatMetadataUUID != 0 && s.MetadataUUID.IsZero() {
		sc.fail(RuleSuperFsid, "metadata_uuid is zero with METADATA_UUID", nil, nil)
	}
	if want := s.MetadataFsid(); s.DevItem.Fsid != want {
		sc.fail(RuleSuperFsid, "dev_item UUID does not match metadata fsid", s.DevItem.Fsid, want)
	}
}

// features checks #7: block-group-tree requires free-space-tree and no-holes.
func (sc *superCheck) features() {
	s := sc.s
	if s.CompatRoFlags&format.CompatRoBlockGroupTree == 0 {
		return
	}
	if s.CompatRoFlags&format.CompatRoFreeSpaceTreeValid == 0 || s.IncompatFlags&format.IncompatNoHoles == 0 {
		sc.fail(RuleSuperFeatures, "block-group-tree feature requires free-space-tree and no-holes", nil, nil)
	}
}

// counts checks #8: bytes_used, stripesize, num_devices, this copy's bytenr.
func (sc *superCheck) counts() {
	s := sc.s
	if min := 6 * uint64(s.NodeSize); s.BytesUsed < min {
		sc.fail(RuleSuperCounts, "bytes_used is too small", s.BytesUsed, fmt.Sprintf("at least %d", min))
	}
	if !isPow2(uint64(s.StripeSize)) {
		sc.fail(RuleSuperCounts, "invalid stripesize", s.StripeSize, "a power of 2")
	}
	if s.NumDevices == 0 {
		sc.fail(RuleSuperCounts, "number of devices is 0", nil, nil)
	}
	if sc.mirror >= 0 && s.Bytenr != uint64(sc.mirror) {
		sc.fail(RuleSuperCounts, "super offset mismatch", s.Bytenr, sc.mirror)
	}
}

// incompat checks #10: every incompat bit is known. Unknown compat_ro bits
// only forbid a read-write mount: a warning.
func (sc *superCheck) incompat() {
	s := sc.s
	if bad := s.IncompatFlags &^ format.IncompatKnown; bad != 0 {
		sc.fail(RuleSuperIncompat, "cannot mount because of unknown incompat features", hexU(bad), "none")
	}
}

// suspicious collects the #11 warnings.
func (sc *superCheck) suspicious() {
	s := sc.s
	warn := func(reason string, have, expect any) {
		sc.warn = append(sc.warn, superErr(RuleSuperSuspicious, reason, have, expect))
	}
	if s.Generation < s.ChunkRootGeneration {
		warn("suspicious: generation < chunk_root_generation", s.Generation, fmt.Sprintf("at least %d", s.ChunkRootGeneration))
	}
	if s.Generation < s.CacheGeneration && s.CacheGeneration != ^uint64(0) {
		warn("suspicious: generation < cache_generation", s.Generation, fmt.Sprintf("at least %d", s.CacheGeneration))
	}
	if s.NumDevices > 1<<31 {
		warn("suspicious number of devices", s.NumDevices, fmt.Sprintf("at most %d", uint64(1)<<31))
	}
	if bad := s.CompatRoFlags &^ format.CompatRoKnown; bad != 0 {
		warn("unknown compat_ro features, read-only mount only", hexU(bad), "none")
	}
}
