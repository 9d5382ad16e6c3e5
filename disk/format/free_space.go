package format

// FreeSpaceUsingBitmaps is the FREE_SPACE_INFO flag saying the group's
// free space is kept in FREE_SPACE_BITMAP items, not FREE_SPACE_EXTENTs.
const FreeSpaceUsingBitmaps = 1

// FreeSpaceBitmapRuns calls fn(start, length) for every run of set bits
// of a FREE_SPACE_BITMAP covering [start, start+length): one bit per
// sector of ss bytes, least significant bit of byte 0 first. Bits past
// the payload count as clear.
func FreeSpaceBitmapRuns(start, length uint64, bits []byte, ss uint64, fn func(start, length uint64)) {
	n := min(length/ss, uint64(len(bits))*8)
	runStart, in := uint64(0), false
	for i := uint64(0); i <= n; i++ {
		set := i < n && bits[i/8]&(1<<(i%8)) != 0
		switch {
		case set && !in:
			runStart, in = i, true
		case !set && in:
			fn(start+runStart*ss, (i-runStart)*ss)
			in = false
		}
	}
}
