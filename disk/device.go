package disk

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Kind classifies an I/O for the counters.
type Kind int

// I/O kinds.
const (
	KindMeta  Kind = iota // tree blocks
	KindData              // file data
	KindSuper             // superblocks
	numKinds
)

func (k Kind) String() string {
	switch k {
	case KindMeta:
		return "metadata"
	case KindData:
		return "data"
	case KindSuper:
		return "super"
	}
	return fmt.Sprintf("kind-%d", int(k))
}

// Device is a block device or image file. Offsets are physical byte offsets.
// ReadAt and WriteAt transfer all of p or return an error; a short transfer
// is an error (io.ErrUnexpectedEOF for reads past the end).
type Device interface {
	ReadAt(p []byte, off int64, k Kind) error
	WriteAt(p []byte, off int64, k Kind) error
	// Flush makes every completed write durable (fdatasync for files).
	Flush() error
	// WriteDurable writes p and makes it durable before returning; used for
	// superblocks.
	WriteDurable(p []byte, off int64, k Kind) error
	// Size is the device size in bytes.
	Size() int64
	// Stats returns a snapshot of the I/O counters.
	Stats() Stats
	Close() error
}

// ErrOutOfRange reports an I/O beyond the end of the device.
var ErrOutOfRange = errors.New("I/O beyond end of device")

// Stats counts bytes and operations per kind, plus flushes.
type Stats struct {
	ReadBytes, ReadOps   [numKinds]uint64
	WriteBytes, WriteOps [numKinds]uint64
	Flushes              uint64
}

// counters is the atomic form of Stats, embedded by implementations.
type counters struct {
	readBytes, readOps   [numKinds]atomic.Uint64
	writeBytes, writeOps [numKinds]atomic.Uint64
	flushes              atomic.Uint64
}

func (c *counters) countRead(k Kind, n int) {
	c.readBytes[k].Add(uint64(n))
	c.readOps[k].Add(1)
}

func (c *counters) countWrite(k Kind, n int) {
	c.writeBytes[k].Add(uint64(n))
	c.writeOps[k].Add(1)
}

func (c *counters) countFlush() { c.flushes.Add(1) }

// Stats returns a snapshot of the counters.
func (c *counters) Stats() Stats {
	var s Stats
	for k := range numKinds {
		s.ReadBytes[k] = c.readBytes[k].Load()
		s.ReadOps[k] = c.readOps[k].Load()
		s.WriteBytes[k] = c.writeBytes[k].Load()
		s.WriteOps[k] = c.writeOps[k].Load()
	}
	s.Flushes = c.flushes.Load()
	return s
}

func checkRange(size int64, n int, off int64) error {
	if off < 0 || off+int64(n) > size {
		return fmt.Errorf("%w: %d bytes at %d, device size %d", ErrOutOfRange, n, off, size)
	}
	return nil
}
