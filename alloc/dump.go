package alloc

import (
	"fmt"
	"io"

	"cowfs/disk/format"
)

// Dump writes the space_info of every type and the given reserves in the
// words of the kernel's "dumping space info" (the end of the seed's log):
//
//	space_info METADATA has 880836608 free, is not full
//	space_info total=2181038080, used=912293888, pinned=3784704, reserved=557056, may_use=383500288, readonly=65536 zone_unusable=0
//	global_block_rsv: size 306905088 reserved 306905088
func (a *Allocator) Dump(w io.Writer, rsvs ...*BlockRsv) {
	fmt.Fprintln(w, "dumping space info:")
	for _, typ := range []uint64{format.BlockGroupData, format.BlockGroupMetadata, format.BlockGroupSystem} {
		si := a.Space(typ)
		// The kernel prints total − busy signed (%lld): negative when
		// may_use is overcommitted, as it is when the seed's bug strikes.
		free := int64(si.Total - (si.Used + si.Pinned + si.Reserved + si.MayUse + si.Readonly))
		full := "is not full"
		if si.Free() == 0 {
			full = "is full"
		}
		fmt.Fprintf(w, "space_info %s has %d free, %s\n", typeName(typ), free, full)
		fmt.Fprintf(w, "space_info total=%d, used=%d, pinned=%d, reserved=%d, may_use=%d, readonly=%d zone_unusable=0\n",
			si.Total, si.Used, si.Pinned, si.Reserved, si.MayUse, si.Readonly)
	}
	for _, r := range rsvs {
		size, reserved := r.Info()
		fmt.Fprintf(w, "%s: size %d reserved %d\n", r.Name, size, reserved)
	}
}
