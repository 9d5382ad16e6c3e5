package disk

import "sync"

// MemDevice is an in-memory Device for tests. Flush is a no-op: everything
// written is immediately "durable".
type MemDevice struct {
	counters
	mu   sync.RWMutex
	data []byte
}

// NewMemDevice returns a zero-filled device of size bytes.
func NewMemDevice(size int64) *MemDevice { return &MemDevice{data: make([]byte, size)} }

// ReadAt copies len(p) bytes at off into p.
func (m *MemDevice) ReadAt(p []byte, off int64, k Kind) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := checkRange(int64(len(m.data)), len(p), off); err != nil {
		return err
	}
	copy(p, m.data[off:])
	m.countRead(k, len(p))
	return nil
}

// WriteAt copies p to off.
func (m *MemDevice) WriteAt(p []byte, off int64, k Kind) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := checkRange(int64(len(m.data)), len(p), off); err != nil {
		return err
	}
	copy(m.data[off:], p)
	m.countWrite(k, len(p))
	return nil
}

// WriteDurable is WriteAt: memory has no volatile cache.
func (m *MemDevice) WriteDurable(p []byte, off int64, k Kind) error {
	if err := m.WriteAt(p, off, k); err != nil {
		return err
	}
	m.countFlush()
	return nil
}

// Flush counts a flush.
func (m *MemDevice) Flush() error { m.countFlush(); return nil }

// Size is the device size.
func (m *MemDevice) Size() int64 { return int64(len(m.data)) }

// Close does nothing.
func (m *MemDevice) Close() error { return nil }

// Bytes returns the device contents (not a copy); for tests.
func (m *MemDevice) Bytes() []byte { return m.data }
