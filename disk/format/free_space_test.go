package format_test

import (
	"flag"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

var bitmapSeed = flag.Uint64("bitmap-seed", 0, "seed of TestFreeSpaceBitmapRuns (0: random)")

// TestFreeSpaceBitmapRuns compares the runs with a bit-by-bit model on
// fixed and random bitmaps, a run reaching the last bit included: every
// set bit in exactly one run, every run maximal.
func TestFreeSpaceBitmapRuns(t *testing.T) {
	const ss, start = 4096, 1 << 30
	cases := [][]byte{{0x0e, 0x00}, {0xff, 0x01}, {0x80, 0xff}, {0, 0}}
	seed := *bitmapSeed
	if seed == 0 {
		seed = uint64(rand.Uint32()) + 1
	}
	t.Logf("seed %d (rerun with -bitmap-seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for range 50 {
		b := make([]byte, 1+rng.IntN(16))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		cases = append(cases, b)
	}
	for _, bits := range cases {
		got := make([]bool, len(bits)*8)
		format.FreeSpaceBitmapRuns(start, uint64(len(bits))*8*ss, bits, ss, func(s, n uint64) {
			require.Zero(t, n%ss)
			first, end := (s-start)/ss, (s-start+n)/ss
			require.True(t, first == 0 || bits[(first-1)/8]&(1<<((first-1)%8)) == 0, "run at bit %d is not maximal", first)
			require.True(t, end == uint64(len(bits))*8 || bits[end/8]&(1<<(end%8)) == 0, "run ending at bit %d is not maximal", end)
			for i := (s - start) / ss; i < (s-start+n)/ss; i++ {
				require.False(t, got[i], "bit %d in two runs", i)
				got[i] = true
			}
		})
		for i := range got {
			require.Equal(t, bits[i/8]&(1<<(i%8)) != 0, got[i], "bitmap %x bit %d", bits, i)
		}
	}
}
