package disk

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

const mirror1End = 64<<20 + format.SuperSize

func testSuper(gen uint64) *format.Super {
	s := &format.Super{Magic: format.Magic, CsumType: format.CsumXXHash, Generation: gen,
		SectorSize: 4096, NodeSize: 16384, LeafSize: 16384}
	copy(s.Label[:], "test")
	return s
}

// putSuper writes s at mirror i with that mirror's bytenr and a good checksum.
func putSuper(t *testing.T, dev Device, s *format.Super, i int) {
	t.Helper()
	s.Bytenr = uint64(format.MirrorOffset(i))
	require.NoError(t, dev.WriteAt(s.EncodeWithCsum(), format.MirrorOffset(i), KindSuper))
}

// readSuper is what checker.ReadSuper does minus the checker's rules.
func readSuper(dev Device) (*format.Super, error) { return NewestSuper(ReadSupers(dev)) }

func TestReadSuperRoundtrip(t *testing.T) {
	dev := NewMemDevice(mirror1End)
	s := testSuper(7)
	require.NoError(t, WriteSuper(dev, s))
	require.Equal(t, uint64(format.SuperInfoOffset), s.Bytenr)
	got, err := readSuper(dev)
	require.NoError(t, err)
	require.Equal(t, s, got)
	copies := ReadSupers(dev)
	require.Len(t, copies, 2, "the 256 GiB mirror does not fit")
	for _, c := range copies {
		require.NoError(t, c.Err)
		require.Equal(t, uint64(c.Offset), c.Super.Bytenr)
	}
}

func TestReadSuperCorruptPrimaryUsesMirror(t *testing.T) {
	dev := NewMemDevice(mirror1End)
	require.NoError(t, WriteSuper(dev, testSuper(5)))
	dev.Bytes()[format.SuperInfoOffset+100] ^= 0xff
	got, err := readSuper(dev)
	require.NoError(t, err)
	require.Equal(t, uint64(format.MirrorOffset(1)), got.Bytenr)
	c := ReadSupers(dev)[0]
	require.ErrorIs(t, c.Err, format.ErrCorrupt)
	require.EqualError(t, c.Err, "superblock at 65536: xxhash64 checksum mismatch")
}

func TestReadSuperHighestGeneration(t *testing.T) {
	dev := NewMemDevice(mirror1End)
	putSuper(t, dev, testSuper(5), 0)
	putSuper(t, dev, testSuper(6), 1)
	got, err := readSuper(dev)
	require.NoError(t, err)
	require.Equal(t, uint64(6), got.Generation)

	putSuper(t, dev, testSuper(6), 0)
	got, err = readSuper(dev)
	require.NoError(t, err)
	require.Equal(t, uint64(format.SuperInfoOffset), got.Bytenr, "primary wins a tie")
}

func TestReadSuperBytenrMismatch(t *testing.T) {
	dev := NewMemDevice(mirror1End)
	s := testSuper(9)
	s.Bytenr = 4096 // checksummed correctly, but at the wrong place
	require.NoError(t, dev.WriteAt(s.EncodeWithCsum(), format.SuperInfoOffset, KindSuper))
	putSuper(t, dev, testSuper(3), 1)
	got, err := readSuper(dev)
	require.NoError(t, err)
	require.Equal(t, uint64(3), got.Generation)
	require.EqualError(t, ReadSupers(dev)[0].Err, "superblock at 65536: bytenr 4096, expect 65536")
}

func TestReadSuperBadCsumType(t *testing.T) {
	dev := NewMemDevice(1 << 20)
	s := testSuper(1)
	s.CsumType = 9
	require.NoError(t, dev.WriteAt(s.Encode(), format.SuperInfoOffset, KindSuper))
	_, err := readSuper(dev)
	require.ErrorIs(t, err, format.ErrCorrupt)
	require.Contains(t, err.Error(), "primary at 65536: unknown csum_type 9")
}

func TestReadSuperNoneValid(t *testing.T) {
	dev := NewMemDevice(1 << 20)
	_, err := readSuper(dev)
	require.ErrorIs(t, err, ErrNoSuper)
	require.NotErrorIs(t, err, format.ErrCorrupt, "zeros are no superblock, not a corrupt one")
	want := "no valid btrfs superblock (primary at 65536: bad magic 0x0; " +
		"mirror 1 at 67108864: beyond device end; mirror 2 at 274877906944: beyond device end)"
	require.EqualError(t, err, want)
	require.NotContains(t, err.Error(), "\n")

	putSuper(t, dev, testSuper(1), 0)
	dev.Bytes()[format.SuperInfoOffset] ^= 1
	_, err = readSuper(dev)
	require.ErrorIs(t, err, ErrNoSuper)
	require.ErrorIs(t, err, format.ErrCorrupt)
}

func TestReadSuperTinyDevice(t *testing.T) {
	_, err := readSuper(NewMemDevice(4096))
	require.ErrorIs(t, err, ErrNoSuper)
	require.Contains(t, err.Error(), "primary at 65536: beyond device end")
}

// recorder logs every call made to the Device it wraps.
type recorder struct {
	Device
	log []string
}

func (r *recorder) WriteAt(p []byte, off int64, k Kind) error {
	r.log = append(r.log, fmt.Sprintf("write %d %s", off, k))
	return r.Device.WriteAt(p, off, k)
}

func (r *recorder) WriteDurable(p []byte, off int64, k Kind) error {
	r.log = append(r.log, fmt.Sprintf("durable %d %s", off, k))
	return r.Device.WriteDurable(p, off, k)
}

func (r *recorder) Flush() error {
	r.log = append(r.log, "flush")
	return r.Device.Flush()
}

func TestWriteSuperOrder(t *testing.T) {
	rec := &recorder{Device: NewMemDevice(mirror1End)}
	require.NoError(t, WriteSuper(rec, testSuper(1)))
	require.Equal(t, []string{"durable 65536 super", "write 67108864 super", "flush"}, rec.log)
	st := rec.Stats()
	require.Equal(t, uint64(2*format.SuperSize), st.WriteBytes[KindSuper])
}

// failWrites fails every write at off.
type failWrites struct {
	Device
	off int64
}

func (f *failWrites) WriteAt(p []byte, off int64, k Kind) error {
	if off == f.off {
		return errors.New("injected")
	}
	return f.Device.WriteAt(p, off, k)
}

func TestWriteSuperErrors(t *testing.T) {
	s := testSuper(1)
	err := WriteSuper(&failWrites{NewMemDevice(mirror1End), format.MirrorOffset(1)}, s)
	require.EqualError(t, err, "write superblock mirror 1 at 67108864: injected")
	require.Equal(t, uint64(format.SuperInfoOffset), s.Bytenr, "restored after a failure")

	require.Error(t, WriteSuper(NewMemDevice(4096), s))
	s.CsumType = 7
	require.Error(t, WriteSuper(NewMemDevice(1<<20), s))
}

func TestWriteSuperLeavesPrimaryCsum(t *testing.T) {
	dev := NewMemDevice(mirror1End)
	s := testSuper(2)
	require.NoError(t, WriteSuper(dev, s))
	primary := dev.Bytes()[format.SuperInfoOffset : format.SuperInfoOffset+format.SuperSize]
	require.True(t, strings.HasPrefix(string(primary), string(s.Csum[:])))
}
