package disk

import (
	"errors"
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// ErrNoSuper reports that no copy of the superblock is valid.
var ErrNoSuper = errors.New("no valid btrfs superblock")

// SuperCopy is one superblock copy as read from a device. Super is set when
// the bytes decoded, even if a later check failed; Err is nil only for a
// valid copy.
type SuperCopy struct {
	Mirror int
	Offset int64
	Super  *format.Super
	Err    error
}

// SuperError says why one superblock copy is unusable. It matches
// format.ErrCorrupt when the copy carries the btrfs magic but fails a later
// check (checksum type, checksum, bytenr, or a superblock rule of the
// checker): a copy that exists but is damaged. A wrong magic means no
// superblock is there, and I/O errors are not corruption either.
type SuperError struct {
	Offset  int64
	Reason  string // short, e.g. "bad magic 0x0"
	Corrupt bool
	Err     error // the underlying error, if any: I/O, or the broken rule
}

func (e *SuperError) Error() string {
	return fmt.Sprintf("superblock at %d: %s", e.Offset, e.Reason)
}

// Unwrap returns the underlying error.
func (e *SuperError) Unwrap() error { return e.Err }

// Is makes a corrupt copy match format.ErrCorrupt.
func (e *SuperError) Is(target error) bool { return e.Corrupt && target == format.ErrCorrupt }

// superFits reports whether mirror i lies wholly inside the device.
func superFits(dev Device, i int) bool {
	return format.MirrorOffset(i)+format.SuperSize <= dev.Size()
}

// ReadSupers reads every superblock copy that fits the device, primary
// first, and checks that each is intact (magic, checksum, bytenr). It does
// not apply the superblock rules: openers call checker.ReadSupers.
func ReadSupers(dev Device) []SuperCopy {
	var out []SuperCopy
	for i := range format.SuperMirrorMax {
		if !superFits(dev, i) {
			continue
		}
		off := format.MirrorOffset(i)
		s, err := readSuperAt(dev, off)
		out = append(out, SuperCopy{Mirror: i, Offset: off, Super: s, Err: err})
	}
	return out
}

// readSuperAt reads one copy and checks, in order: decoding, magic, csum_type,
// checksum, bytenr.
func readSuperAt(dev Device, off int64) (*format.Super, error) {
	buf := make([]byte, format.SuperSize)
	if err := dev.ReadAt(buf, off, KindSuper); err != nil {
		return nil, &SuperError{Offset: off, Reason: err.Error(), Err: err}
	}
	s, err := format.DecodeSuper(buf)
	if err != nil {
		return nil, &SuperError{Offset: off, Reason: err.Error(), Corrupt: true}
	}
	return s, checkSuper(s, buf, off)
}

// checkSuper validates a decoded copy read from off.
func checkSuper(s *format.Super, buf []byte, off int64) error {
	bad := func(format string, args ...any) error {
		return &SuperError{Offset: off, Reason: fmt.Sprintf(format, args...), Corrupt: true}
	}
	switch {
	case s.Magic != format.Magic:
		return &SuperError{Offset: off, Reason: fmt.Sprintf("bad magic %#x", s.Magic)}
	case !s.CsumType.Valid():
		return bad("unknown csum_type %d", uint16(s.CsumType))
	case !s.CsumType.VerifyBlockCsum(buf):
		return bad("%s checksum mismatch", s.CsumType)
	case s.Bytenr != uint64(off):
		return bad("bytenr %d, expect %d", s.Bytenr, off)
	}
	return nil
}

// NewestSuper returns the valid copy (Err nil) with the highest generation;
// the primary wins ties. With no valid copy it returns a NoSuperError.
// Openers call checker.ReadSuper, which also applies the superblock rules.
func NewestSuper(copies []SuperCopy) (*format.Super, error) {
	best := Newest(copies, func(c *SuperCopy) bool { return c.Err == nil })
	if best == nil {
		return nil, &NoSuperError{Copies: copies}
	}
	return best.Super, nil
}

// Newest returns the copy with the highest generation among those ok
// accepts (the earliest wins ties: copies come primary first), or nil.
func Newest(copies []SuperCopy, ok func(*SuperCopy) bool) *SuperCopy {
	var best *SuperCopy
	for i := range copies {
		if c := &copies[i]; ok(c) && (best == nil || c.Super.Generation > best.Super.Generation) {
			best = c
		}
	}
	return best
}

// NoSuperError is NewestSuper's error when no copy is valid. It matches
// ErrNoSuper, and format.ErrCorrupt when some copy was corrupt.
type NoSuperError struct {
	Copies []SuperCopy // every copy that fits the device; the rest lie beyond its end
}

func (e *NoSuperError) Error() string {
	var parts []string
	for i := range format.SuperMirrorMax {
		off := format.MirrorOffset(i)
		reason := "beyond device end"
		if c := e.find(i); c != nil {
			reason = shortReason(c.Err)
		}
		parts = append(parts, fmt.Sprintf("%s at %d: %s", mirrorName(i), off, reason))
	}
	return fmt.Sprintf("%v (%s)", ErrNoSuper, strings.Join(parts, "; "))
}

// Unwrap lets errors.Is find ErrNoSuper and each copy's error.
func (e *NoSuperError) Unwrap() []error {
	errs := []error{ErrNoSuper}
	for _, c := range e.Copies {
		errs = append(errs, c.Err)
	}
	return errs
}

func (e *NoSuperError) find(mirror int) *SuperCopy {
	for i := range e.Copies {
		if e.Copies[i].Mirror == mirror {
			return &e.Copies[i]
		}
	}
	return nil
}

func shortReason(err error) string {
	if se, ok := errors.AsType[*SuperError](err); ok {
		return se.Reason
	}
	return err.Error()
}

func mirrorName(i int) string {
	if i == 0 {
		return "primary"
	}
	return fmt.Sprintf("mirror %d", i)
}

// WriteSuper writes s to every copy that fits the device, each with its own
// bytenr and checksum: the primary durably first, then the mirrors, then a
// flush. On return s.Bytenr and s.Csum are those of the primary.
func WriteSuper(dev Device, s *format.Super) error {
	if !s.CsumType.Valid() {
		return fmt.Errorf("write superblock: unknown csum_type %d", uint16(s.CsumType))
	}
	if !superFits(dev, 0) {
		return fmt.Errorf("write superblock: device of %d bytes cannot hold the primary copy", dev.Size())
	}
	defer func() {
		s.Bytenr = uint64(format.MirrorOffset(0))
		s.EncodeWithCsum()
	}()
	for i := 0; i < format.SuperMirrorMax && superFits(dev, i); i++ {
		if err := writeSuperCopy(dev, s, i); err != nil {
			return err
		}
	}
	if err := dev.Flush(); err != nil {
		return fmt.Errorf("write superblock: flush: %w", err)
	}
	return nil
}

// writeSuperCopy writes copy i; the primary goes through WriteDurable.
func writeSuperCopy(dev Device, s *format.Super, i int) error {
	off := format.MirrorOffset(i)
	s.Bytenr = uint64(off)
	b := s.EncodeWithCsum()
	write := dev.WriteAt
	if i == 0 {
		write = dev.WriteDurable
	}
	if err := write(b, off, KindSuper); err != nil {
		return fmt.Errorf("write superblock %s at %d: %w", mirrorName(i), off, err)
	}
	return nil
}
