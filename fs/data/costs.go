package data

// What dropping file extents frees, for callers that drop many of them in
// steps (a handle each) to bound what one handle reserves.

// ExtentCost is one file extent: its file range and, when it references a
// data extent, what deleting that extent's checksums reserves once its
// last reference goes (transaction.FS.CsumDeleteSize of disk_num_bytes;
// 0 for inline extents and holes).
type ExtentCost struct {
	Off, End uint64
	Csum     uint64
}

// ExtentCosts lists the file extents of ino overlapping [start, end), in
// order.
func (f *Files) ExtentCosts(ino, start, end uint64) ([]ExtentCost, error) {
	exts, err := f.extents(ino, start, end)
	if err != nil {
		return nil, err
	}
	out := make([]ExtentCost, len(exts))
	for i, e := range exts {
		out[i] = ExtentCost{Off: e.off, End: e.end(f.sector)}
		if e.onDisk() {
			out[i].Csum = f.fs.CsumDeleteSize(e.fe.DiskNumBytes)
		}
	}
	return out, nil
}

// SumCsum is the checksum-deletion reservation of exts.
func SumCsum(exts []ExtentCost) uint64 {
	var n uint64
	for _, e := range exts {
		n += e.Csum
	}
	return n
}
