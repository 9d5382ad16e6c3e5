package fs

import "sync"

// spareBuf is one buffer of the data buffer's full size, kept from a
// flushed run for the next sequential run, so that a streaming writer
// does not allocate (and the kernel zero-fill) 32 MiB per flush. There is
// one per filesystem: whichever run takes it holds at most the data
// buffer's worth of memory (and one write), which the memory bound counts. Sync
// drops it, so an idle daemon does not keep it.
type spareBuf struct {
	mu  sync.Mutex
	buf []byte
}

// spareMin is the smallest run that takes the spare: a run of this size
// growing is a sequential writer, not a small file.
const spareMin = 1 << 20

// take returns the spare holding data, extended to n bytes, or nil when
// there is none or it is too small.
func (s *spareBuf) take(data []byte, n int) []byte {
	if s == nil || n < spareMin {
		return nil
	}
	s.mu.Lock()
	b := s.buf
	if cap(b) < n {
		s.mu.Unlock()
		return nil
	}
	s.buf = nil
	s.mu.Unlock()
	return append(b[:0], data...)[:n]
}

// give keeps b as the spare if it holds at least spareMin and more than
// the spare kept (runs flushed early, as SetAttr's flush does, still leave
// their buffer), but not beyond the data buffer (limit) and what one
// write adds to it; the caller no longer uses b.
func (s *spareBuf) give(b []byte, limit int) {
	if cap(b) < spareMin || cap(b) > limit+maxWriteSize {
		return
	}
	s.mu.Lock()
	if cap(b) > cap(s.buf) {
		s.buf = b[:0]
	}
	s.mu.Unlock()
}

// maxWriteSize is the largest write FUSE sends (max_write).
const maxWriteSize = 1 << 20

// drop lets the spare go.
func (s *spareBuf) drop() {
	s.mu.Lock()
	s.buf = nil
	s.mu.Unlock()
}
