package format

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt marks every error that reports corrupt on-disk bytes, here and in
// the checker: errors.Is(err, ErrCorrupt) tells corruption from I/O failure.
var ErrCorrupt = errors.New("corrupt metadata")

// DecodeError reports bytes that cannot be decoded as the named structure.
type DecodeError struct {
	What   string // structure name, e.g. "INODE_ITEM"
	Reason string
}

func (e *DecodeError) Error() string { return fmt.Sprintf("bad %s: %s", e.What, e.Reason) }

// Is makes DecodeError match ErrCorrupt.
func (e *DecodeError) Is(target error) bool { return target == ErrCorrupt }

func decodeErr(what, format string, args ...any) error {
	return &DecodeError{What: what, Reason: fmt.Sprintf(format, args...)}
}

// decodeFixed decodes a fixed-layout struct that must fill b exactly.
func decodeFixed(what string, b []byte, v any) error {
	if n := binary.Size(v); len(b) != n {
		return decodeErr(what, "size %d, expect %d", len(b), n)
	}
	if _, err := binary.Decode(b, le, v); err != nil {
		return decodeErr(what, "%v", err)
	}
	return nil
}

// encodeFixed encodes a fixed-layout struct.
func encodeFixed(v any) []byte {
	b, err := binary.Append(nil, le, v)
	if err != nil {
		panic(fmt.Sprintf("format: %T is not a fixed-size layout: %v", v, err))
	}
	return b
}

// reader walks a byte slice for variable-length items without ever reading
// past its end: a short read sets err and returns zeros.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		if r.err == nil {
			r.err = fmt.Errorf("truncated at byte %d (need %d of %d)", r.off, n, len(r.b)-r.off)
		}
		return make([]byte, max(n, 0))
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8   { return r.take(1)[0] }
func (r *reader) u16() uint16 { return le.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return le.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return le.Uint64(r.take(8)) }
func (r *reader) key() Key    { return ReadKey(r.take(KeySize)) }
func (r *reader) left() int   { return len(r.b) - r.off }
func (r *reader) bytes(n int) []byte {
	return append([]byte(nil), r.take(n)...)
}

// writer appends little-endian fields.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = le.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = le.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = le.AppendUint64(w.b, v) }
func (w *writer) raw(p []byte) { w.b = append(w.b, p...) }
func (w *writer) key(k Key) {
	var kb [KeySize]byte
	PutKey(kb[:], k)
	w.b = append(w.b, kb[:]...)
}

func (r *reader) errOr(s string) string {
	if r.err != nil {
		return r.err.Error()
	}
	return s
}
