package checker

import (
	"encoding/hex"

	"cowfs/disk/format"
)

// headerCheck matches a tree block header against what the reader expected
// (#12–#18). The block has NodeSize bytes (checkInput).
type headerCheck struct {
	r   *report
	h   format.Header
	ctx *Context
	exp Expect
}

func (hc *headerCheck) fail(rule int, reason string, have, expect any) {
	root := hc.exp.Owner
	if root == 0 {
		root = hc.h.Owner()
	}
	e := &Error{Rule: rule, Kind: KindBlock, Root: root, Block: hc.exp.Bytenr, Slot: -1, Reason: reason}
	hc.r.add(e.WithHE(have, expect))
}

// identity checks bytenr (#12) and fsid (#13). On failure the block is not
// the one asked for, so it reports false and nothing more is checked.
func (hc *headerCheck) identity() bool {
	n := len(hc.r.errs)
	if got := hc.h.Bytenr(); got != hc.exp.Bytenr {
		hc.fail(RuleBytenr, "bad tree block start", got, hc.exp.Bytenr)
	}
	if !hc.r.done() {
		hc.fsid()
	}
	return len(hc.r.errs) == n
}

func (hc *headerCheck) fsid() {
	got := hc.h.Fsid()
	if got == hc.ctx.Fsid {
		return
	}
	for _, s := range hc.ctx.SeedFsids {
		if got == s {
			return
		}
	}
	hc.fail(RuleFsid, "bad fsid", got, hc.ctx.Fsid)
}

// levelCsum checks level < 8 and the checksum (#14). It reports false when
// the level is out of range: then neither leaf nor node checks apply.
func (hc *headerCheck) levelCsum() bool {
	if lv := hc.h.Level(); lv >= format.MaxLevel {
		hc.fail(RuleLevelCsum, "bad tree block level", lv, "< 8")
		return false
	}
	t := hc.ctx.CsumType
	if !t.VerifyBlockCsum(hc.h) {
		sum := t.SumBlock(hc.h)
		n := t.Size()
		hc.fail(RuleLevelCsum, "checksum verify failed",
			hex.EncodeToString(hc.h[:n]), hex.EncodeToString(sum[:n]))
	}
	return true
}

// expected checks level (#15), generation (#16), first key (#17), owner (#18).
func (hc *headerCheck) expected() {
	exp := hc.exp
	if lv := int(hc.h.Level()); exp.Level >= 0 && lv != exp.Level {
		hc.fail(RuleLevel, "level verify failed", lv, exp.Level)
	}
	if g := hc.h.Generation(); !hc.r.done() && exp.Generation != 0 && g != exp.Generation {
		hc.fail(RuleTransid, "parent transid verify failed", g, exp.Generation)
	}
	if !hc.r.done() {
		hc.firstKey()
	}
	if !hc.r.done() {
		hc.owner()
	}
}

// firstKey checks the block's first key against the parent's (#17), for
// committed blocks only (generation not above the superblock's).
func (hc *headerCheck) firstKey() {
	want := hc.exp.FirstKey
	sg := hc.ctx.SuperGeneration
	if want == nil || (sg != 0 && hc.h.Generation() > sg) {
		return
	}
	if hc.h.NrItems() == 0 {
		hc.fail(RuleFirstKey, "invalid tree nritems", 0, "> 0")
		return
	}
	// Item 0's key and pointer 0's key sit at the same offset.
	if got := format.Leaf(hc.h).ItemKey(0); got != *want {
		hc.fail(RuleFirstKey, "tree first key mismatch detected", got, *want)
	}
}

// owner checks the header owner against the tree being read (#18). Log and
// relocation trees are exempt; subvolume trees accept any subvolume owner
// (snapshots share blocks); other trees must match exactly.
func (hc *headerCheck) owner() {
	want, got := hc.exp.Owner, hc.h.Owner()
	switch {
	case want == 0 || want == format.TreeLogObjectID || want == format.TreeRelocObjectID:
	case !format.IsSubvolumeID(want) && got != want:
		hc.fail(RuleOwner, "owner mismatch", got, want)
	case format.IsSubvolumeID(want) && !format.IsSubvolumeID(got):
		hc.fail(RuleOwner, "owner mismatch", got, "a subvolume id (5 or [256, 18446744073709551360])")
	}
}
