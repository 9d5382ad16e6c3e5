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

// FreeSpaceBitmapBits is the sectors one FREE_SPACE_BITMAP item covers
// (its payload is 256 bytes) when the group extends that far.
const FreeSpaceBitmapBits = 256 * 8

// FreeSpaceThresholds are the kernel's conversion points for a group of
// length bytes: a group kept in extents turns to bitmaps when its free
// extents exceed high (bitmaps would then take less leaf space: each item
// costs a 25-byte header), and back to extents below low (high − 100,
// or 0), the gap keeping it from switching to and fro.
func FreeSpaceThresholds(length uint64, sectorSize uint32) (high, low uint64) {
	bitmapRange := uint64(sectorSize) * FreeSpaceBitmapBits
	bitmaps := (length + bitmapRange - 1) / bitmapRange
	high = bitmaps * (ItemHeaderSize + FreeSpaceBitmapBits/8) / ItemHeaderSize
	if high > 100 {
		low = high - 100
	}
	return high, low
}
