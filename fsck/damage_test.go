package fsck_test

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/fsck/dump"
	"cowfs/fsck/fscktest"
)

var damageSeed = flag.Uint64("damage.seed", 0, "seed for TestCheckRandomDamage (0: time-based)")

// TestCheckRandomDamage damages random bytes of random tree blocks of an
// in-memory image, usually re-checksumming them so the checker looks past
// the checksum, and requires that Check never panics, that every problem is
// one typed line, and that damage to a header field the parent pointer
// vouches for is always noticed. The dump renderer must survive the raw
// damaged block too.
func TestCheckRandomDamage(t *testing.T) {
	seed := *damageSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -damage.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	path := rootdirImage(t)
	blocks := fscktest.Blocks(t, path)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	dev := disk.NewMemDevice(int64(len(raw)))
	copy(dev.Bytes(), raw)
	img := fscktest.Open(t, path)
	for i := range 60 {
		b := blocks[rng.IntN(len(blocks))]
		block := dev.Bytes()[b.Phys : b.Phys+int64(img.NodeSize())]
		saved := bytes.Clone(block)
		off := damage(rng, block, img.Super.CsumType)
		rep, err := fsck.Check(dev, fsck.Options{})
		require.NoError(t, err, "iteration %d", i)
		requireWellFormed(t, rep)
		if vouched(off) && block[off] != saved[off] {
			require.False(t, rep.Clean(), "iteration %d: header byte %d of block %d changed unnoticed", i, off, b.Bytenr)
		}
		dump.Block(&strings.Builder{}, block, dump.BlockInfo{CsumSize: 8, SectorSize: 4096})
		copy(block, saved)
	}
}

// vouched reports whether a header byte is one the pointer to the block
// vouches for: bytenr, generation, level. (Flags, chunk tree uuid, nritems
// and a subvolume owner can change and still be valid.)
func vouched(off int) bool {
	return (off >= 48 && off < 56) || (off >= 80 && off < 88) || off == 100
}

// damage changes one to four bytes of block (most often in the header and
// item area) and usually fixes the checksum; it returns the first offset.
func damage(rng *rand.Rand, block []byte, csum format.CsumType) int {
	limit := len(block)
	if rng.IntN(2) == 0 {
		limit = format.HeaderSize + 40*format.ItemHeaderSize
	}
	first := format.CsumFieldSize + rng.IntN(limit-format.CsumFieldSize)
	off := first
	for range 1 + rng.IntN(4) {
		block[off] ^= byte(1 + rng.IntN(255))
		off = min(off+1+rng.IntN(8), len(block)-1)
	}
	if rng.IntN(8) != 0 {
		csum.SetBlockCsum(block)
	}
	return first
}

func requireWellFormed(t *testing.T, rep *fsck.Report) {
	t.Helper()
	for _, p := range rep.Problems {
		require.NotZero(t, p.Kind, p.Message)
		require.NotEmpty(t, p.Message)
		require.NotContains(t, p.Message, "\n")
	}
}
