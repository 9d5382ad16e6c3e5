package fsck

import (
	"fmt"
	"slices"

	"cowfs/disk/format"
)

// fsMalformed is a free-space item whose own shape is wrong.
type fsMalformed struct {
	at  loc
	msg string
}

// addInfo records a FREE_SPACE_INFO; one that does not decode is
// malformed and owns nothing (its entries then count as stray).
func (f *freeSpaceFacts) addInfo(at loc, data []byte) {
	fi, err := format.DecodeFreeSpaceInfo(data)
	if err != nil {
		f.malformed = append(f.malformed, fsMalformed{at, fmt.Sprintf("FREE_SPACE_INFO item size %d, want 8", len(data))})
		return
	}
	k := at.key
	f.infos = append(f.infos, fsInfoRec{start: k.ObjectID, length: k.Offset, count: fi.ExtentCount,
		flags: fi.Flags, at: at, first: int32(len(f.free))})
}

// entryShape checks a FREE_SPACE_EXTENT or FREE_SPACE_BITMAP key (start
// and length whole sectors, length not zero) and, for a bitmap, that its
// payload holds exactly one bit per sector; "" when well-formed.
func entryShape(k format.Key, size int, ss uint64) string {
	if k.Offset == 0 || k.ObjectID%ss != 0 || k.Offset%ss != 0 {
		return fmt.Sprintf("free space entry [%d, +%d) is not whole sectors of %d", k.ObjectID, k.Offset, ss)
	}
	if k.Type == format.FreeSpaceExtentKey && size != 0 {
		return fmt.Sprintf("FREE_SPACE_EXTENT item size %d, want 0", size)
	}
	if want := (k.Offset/ss + 7) / 8; k.Type == format.FreeSpaceBitmapKey && uint64(size) != want {
		return fmt.Sprintf("FREE_SPACE_BITMAP of %d sectors has %d bytes, want %d", k.Offset/ss, size, want)
	}
	return ""
}

// freeSpaceOverlap reports entries of one group that list a byte twice.
func (r *run) freeSpaceOverlap(info *fsInfoRec, entries []span) {
	slices.SortFunc(entries, func(a, b span) int { return cmpU64(a.start, b.start) })
	for i := 1; i < len(entries); i++ {
		if entries[i].start < entries[i-1].end {
			r.xadd(KindFreeSpace, 58, info.at, "block group %d: free ranges [%d, %d) and [%d, %d) overlap",
				info.start, entries[i-1].start, entries[i-1].end, entries[i].start, entries[i].end)
			return
		}
	}
}
