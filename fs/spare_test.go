package fs

import "testing"

// BenchmarkBufferSequential buffers 32 MiB in 1 MiB appends, as a
// sequential writer does between two flushes of the default data buffer,
// then drops the run as a flush does (giving its buffer to the spare).
// Bytes per op are the 32 MiB buffered.
func BenchmarkBufferSequential(b *testing.B) {
	const limit = 32 << 20
	p := make([]byte, 1<<20)
	var spare spareBuf
	b.SetBytes(limit)
	b.ReportAllocs()
	for range b.N {
		var rs dirtyRanges
		for i := range limit >> 20 {
			rs.insert(uint64(i)<<20, p, limit, &spare)
		}
		if len(rs) != 1 || rs.bytes() != limit {
			b.Fatalf("%d runs, %d bytes", len(rs), rs.bytes())
		}
		spare.give(rs[0].data, limit)
	}
}

// TestDirtyRangesSpare: a growing run moves into the spare (filled with
// garbage here) and keeps exactly what was written; the largest flushed
// run's buffer within [spareMin, the data buffer] becomes the spare.
func TestDirtyRangesSpare(t *testing.T) {
	const limit = 8 << 20
	garbage := make([]byte, limit)
	for i := range garbage {
		garbage[i] = 0xa5
	}
	spare := &spareBuf{buf: garbage}
	var rs dirtyRanges
	var model []byte
	for i := range 32 {
		p := make([]byte, 256<<10)
		for j := range p {
			p[j] = byte(i + j)
		}
		rs.insert(uint64(len(model)), p, limit, spare)
		model = append(model, p...)
	}
	if spare.buf != nil || len(rs) != 1 || &rs[0].data[0] != &garbage[0] {
		t.Fatalf("the run did not move into the spare: %d runs, spare kept %v", len(rs), spare.buf != nil)
	}
	got := make([]byte, len(model))
	rs.overlay(got, 0)
	if string(got) != string(model) {
		t.Fatal("buffered bytes differ from what was written")
	}
	spare.give(make([]byte, spareMin-1), limit)
	if spare.buf != nil {
		t.Fatal("a buffer below spareMin became the spare")
	}
	spare.give(make([]byte, 2*limit), limit)
	if spare.buf != nil {
		t.Fatal("a buffer beyond the data buffer became the spare")
	}
	spare.give(make([]byte, 2*spareMin), limit)
	spare.give(rs[0].data, limit)
	spare.give(make([]byte, spareMin), limit)
	if cap(spare.buf) != limit {
		t.Fatalf("spare of %d bytes: the largest flushed run's buffer should stay", cap(spare.buf))
	}
}
