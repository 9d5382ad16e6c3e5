package fs

import "testing"

// BenchmarkBufferSequential buffers 32 MiB in 1 MiB appends, as a
// sequential writer does between two flushes of the default data buffer,
// then drops the run (the flush). Bytes per op are the 32 MiB buffered.
func BenchmarkBufferSequential(b *testing.B) {
	p := make([]byte, 1<<20)
	b.SetBytes(32 << 20)
	b.ReportAllocs()
	for range b.N {
		var rs dirtyRanges
		for i := range 32 {
			rs.insert(uint64(i)<<20, p, 32<<20)
		}
		if rs.bytes() != 32<<20 {
			b.Fatalf("buffered %d bytes", rs.bytes())
		}
	}
}
