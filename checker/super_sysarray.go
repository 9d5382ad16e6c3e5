package checker

import (
	"fmt"

	"cowfs/disk/format"
)

// sysEntryMin is the smallest sys_chunk_array entry: a key and a one-stripe
// chunk (97 bytes).
var sysEntryMin = format.KeySize + format.ChunkItemSize(1)

// sysArray checks #9: the array's size, then each entry: a CHUNK_ITEM key, a
// SYSTEM chunk with stripes, inside the array, passing the chunk rules.
func (sc *superCheck) sysArray() {
	size := int(sc.s.SysChunkArraySize)
	switch {
	case size > format.SysChunkArrayMax:
		sc.fail(RuleSuperSysArray, "system chunk array too big", size, fmt.Sprintf("at most %d", format.SysChunkArrayMax))
		return
	case size < sysEntryMin:
		sc.fail(RuleSuperSysArray, "system chunk array too small", size, fmt.Sprintf("at least %d", sysEntryMin))
		return
	}
	ctx := ContextFromSuper(sc.s)
	arr := sc.s.SysChunkArray[:size]
	for cur := 0; cur < size && !sc.r.done(); {
		n, e := sysEntry(arr, cur, &ctx)
		sc.r.add(e)
		if n == 0 {
			return
		}
		cur += n
	}
}

// sysEntry checks the entry at cur and returns its size (0 if the walk
// cannot go on) and its first problem.
func sysEntry(arr []byte, cur int, ctx *Context) (int, *Error) {
	short := func(need int) *Error {
		return superErr(RuleSuperSysArray, fmt.Sprintf("sys_array too short to read %d bytes at offset %d", need, cur), nil, nil)
	}
	if cur+format.KeySize+format.ChunkItemSize(0) > len(arr) {
		return 0, short(format.KeySize + format.ChunkItemSize(0))
	}
	key := format.ReadKey(arr[cur:])
	body := arr[cur+format.KeySize:]
	ns, typ := int(le.Uint16(body[44:])), le.Uint64(body[24:])
	e := &Error{Rule: RuleSuperSysArray, Kind: KindSysChunk, Slot: -1, Key: keyPtr(key)}
	switch {
	case key.Type != format.ChunkItemKey:
		e.Reason = fmt.Sprintf("unexpected item type %d in sys_array at offset %d", key.Type, cur)
	case ns == 0:
		e.Reason = fmt.Sprintf("invalid number of stripes %d in sys_array at offset %d", ns, cur)
	case typ&format.BlockGroupSystem == 0:
		e.Reason = fmt.Sprintf("invalid chunk type %s in sys_array at offset %d", hexU(typ), cur)
	case format.ChunkItemSize(ns) > len(body):
		return 0, short(format.KeySize + format.ChunkItemSize(ns))
	default:
		return format.KeySize + format.ChunkItemSize(ns), sysChunk(key, body[:format.ChunkItemSize(ns)], ctx)
	}
	return 0, e
}

// sysChunk applies the chunk rules (#36) to a sys_chunk_array entry; a
// failure is reported under #9.
func sysChunk(key format.Key, body []byte, ctx *Context) *Error {
	c, err := format.DecodeChunkItem(body)
	if err != nil {
		return &Error{Rule: RuleSuperSysArray, Kind: KindSysChunk, Slot: -1, Key: keyPtr(key), Reason: err.Error()}
	}
	e := checkChunk(key, c, ctx)
	if e != nil {
		e.Rule, e.Kind = RuleSuperSysArray, KindSysChunk
	}
	return e
}
