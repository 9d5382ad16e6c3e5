package alloc

import (
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var allocSeedFlag = flag.Uint64("alloc.seed", 0, "seed of the randomized alloc tests (0: time-based)")

// allocSeed returns the seed of a randomized test and logs how to rerun it.
func allocSeed(t *testing.T) uint64 {
	seed := *allocSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun: go test ./alloc -run '^%s$' -alloc.seed=%d)", seed, t.Name(), seed)
	return seed
}

// unitModel is the free-space model: one bool per unit of a space that
// starts at base.
type unitModel struct {
	base, unit uint64
	free       []bool
}

func (m *unitModel) idx(at uint64) int { return int((at - m.base) / m.unit) }

// all reports whether every unit of r has the state want.
func (m *unitModel) all(r Range, want bool) bool {
	for i := m.idx(r.Start); i < m.idx(r.End()); i++ {
		if m.free[i] != want {
			return false
		}
	}
	return true
}

func (m *unitModel) set(r Range, v bool) {
	for i := m.idx(r.Start); i < m.idx(r.End()); i++ {
		m.free[i] = v
	}
}

// runs returns the maximal free runs: what freeSpace must hold.
func (m *unitModel) runs() []Range {
	var out []Range
	for i := 0; i < len(m.free); {
		if !m.free[i] {
			i++
			continue
		}
		j := i
		for j < len(m.free) && m.free[j] {
			j++
		}
		out = append(out, Range{m.base + uint64(i)*m.unit, uint64(j-i) * m.unit})
		i = j
	}
	return out
}

// find is freeSpace.find by brute force, unit by unit.
func (m *unitModel) find(from, length, align, boundary uint64) (uint64, bool) {
	end := m.base + uint64(len(m.free))*m.unit
	for s := m.base + alignUp(max(from, m.base)-m.base, m.unit); s+length <= end; s += m.unit {
		off := s - m.base
		if off%align != 0 || (boundary != 0 && off/boundary != (off+length-1)/boundary) {
			continue
		}
		if m.all(Range{s, length}, true) {
			return s, true
		}
	}
	return 0, false
}

func requireSameRuns(t *testing.T, f *freeSpace, m *unitModel, step int) {
	t.Helper()
	var got []Range
	f.each(func(r Range) { got = append(got, r) })
	want := m.runs()
	require.Equal(t, want, got, "step %d: free ranges (merged, in order)", step)
	var n uint64
	for _, r := range want {
		n += r.Len
	}
	require.Equal(t, n, f.bytes, "step %d: free bytes", step)
}

// TestFreeSpaceModel runs random adds, removes and finds against a bitmap.
func TestFreeSpaceModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(allocSeed(t), 1))
	const unit, units = 4096, 512  // 2 MiB of 4 KiB units
	base := uint64(5<<20 + 3*unit) // not 64 KiB aligned: every rule is relative to base
	m := &unitModel{base: base, unit: unit, free: make([]bool, units)}
	f := newFreeSpace()
	// randRange returns a random range; half the time one inside a run of
	// units in state want, so that adds and removes succeed as often as
	// they are refused.
	randRange := func(want bool) Range {
		n := 1 + rng.IntN(24)
		if rng.IntN(8) == 0 {
			n = 1 + rng.IntN(units/2)
		}
		s := rng.IntN(units - n + 1)
		if rng.IntN(2) == 0 && m.free[s] == want {
			e := s + 1
			for e < units && e-s < n && m.free[e] == want {
				e++
			}
			n = e - s
		}
		return Range{base + uint64(s)*unit, uint64(n) * unit}
	}
	var adds, refusedAdds, removes, refusedRemoves, finds, found int
	for step := range 10000 {
		switch op := rng.IntN(10); {
		case op < 4:
			r := randRange(false)
			err := f.add(r)
			if m.all(r, false) {
				require.NoError(t, err, "step %d: add %v", step, r)
				m.set(r, true)
				adds++
			} else {
				require.Error(t, err, "step %d: add %v over free space (double free)", step, r)
				refusedAdds++
			}
		case op < 7:
			r := randRange(true)
			err := f.remove(r)
			if m.all(r, true) {
				require.NoError(t, err, "step %d: remove %v", step, r)
				m.set(r, false)
				removes++
			} else {
				require.Error(t, err, "step %d: remove %v, not all free", step, r)
				refusedRemoves++
			}
		default:
			aligns := []uint64{unit, 2 * unit, 4 * unit, 16 * unit, 3 * unit}
			align := aligns[rng.IntN(len(aligns))]
			var boundary uint64
			if rng.IntN(2) == 0 {
				boundary = 64 << 10
			}
			length := uint64(1+rng.IntN(20)) * unit // up to 80 KiB: some longer than the boundary
			from := base + uint64(rng.IntN(units+8))*unit
			if rng.IntN(4) == 0 {
				from += uint64(1 + rng.IntN(unit-1)) // unaligned from
			}
			at, ok := f.find(from, length, base, align, boundary)
			wantAt, wantOK := m.find(from, length, align, boundary)
			if boundary != 0 && length > boundary {
				wantAt, wantOK = 0, false
			}
			require.Equal(t, wantOK, ok, "step %d: find(from %d, len %d, align %d, boundary %d)", step, from, length, align, boundary)
			require.Equal(t, wantAt, at, "step %d: find(from %d, len %d, align %d, boundary %d)", step, from, length, align, boundary)
			finds++
			if ok {
				found++
				if boundary != 0 {
					require.Equal(t, (at-base)/boundary, (at-base+length-1)/boundary, "crosses a boundary")
				}
				// Allocate what was found now and then, as the allocator does.
				if rng.IntN(2) == 0 {
					require.NoError(t, f.remove(Range{at, length}))
					m.set(Range{at, length}, false)
				}
			}
		}
		requireSameRuns(t, f, m, step)
	}
	t.Logf("adds %d (refused %d), removes %d (refused %d), finds %d (found %d)",
		adds, refusedAdds, removes, refusedRemoves, finds, found)
	require.Positive(t, refusedAdds)
	require.Positive(t, refusedRemoves)
	require.Positive(t, found)
	require.Less(t, found, finds)
}

func TestFreeSpaceMerge(t *testing.T) {
	f := newFreeSpace()
	require.NoError(t, f.add(Range{0, 10}))
	require.NoError(t, f.add(Range{20, 10}))
	require.NoError(t, f.add(Range{40, 10}))
	require.NoError(t, f.add(Range{10, 10})) // joins both neighbours
	require.NoError(t, f.add(Range{35, 5}))  // joins the next one only
	require.NoError(t, f.add(Range{0, 0}))   // empty: nothing
	var got []Range
	f.each(func(r Range) { got = append(got, r) })
	require.Equal(t, []Range{{0, 30}, {35, 15}}, got)
	require.EqualValues(t, 45, f.bytes)
}

func TestFreeSpaceRefusals(t *testing.T) {
	f := newFreeSpace()
	require.NoError(t, f.add(Range{100, 100}))
	for _, r := range []Range{{100, 100}, {150, 10}, {50, 51}, {199, 10}, {0, 1000}} {
		require.Error(t, f.add(r), "double free of %v", r)
	}
	for _, r := range []Range{{99, 2}, {150, 51}, {0, 10}, {200, 1}, {50, 300}} {
		require.Error(t, f.remove(r), "removal of %v, not all free", r)
	}
	var got []Range
	f.each(func(r Range) { got = append(got, r) })
	require.Equal(t, []Range{{100, 100}}, got, "a refused call changes nothing")
	require.EqualValues(t, 100, f.bytes)

	require.NoError(t, f.remove(Range{120, 10}))
	require.Error(t, f.remove(Range{115, 10}), "removal across a hole")
	require.NoError(t, f.remove(Range{100, 20}))
	require.NoError(t, f.remove(Range{190, 10}))
	got = got[:0]
	f.each(func(r Range) { got = append(got, r) })
	require.Equal(t, []Range{{130, 60}}, got)
}

func TestFreeSpaceFindBoundary(t *testing.T) {
	const k = 1024
	f := newFreeSpace()
	require.NoError(t, f.add(Range{0, 256 * k}))
	// 16 KiB at 56 KiB would cross 64 KiB: the next line it is.
	at, ok := f.find(56*k, 16*k, 0, 16*k, 64*k)
	require.True(t, ok)
	require.EqualValues(t, 64*k, at)
	// An alignment that does not divide the boundary: 48 KiB blocks.
	at, ok = f.find(40*k, 48*k, 0, 48*k, 64*k)
	require.True(t, ok)
	require.EqualValues(t, 144*k, at, "48 and 96 cross 64 and 128; [144, 192) does not")
	// Longer than the boundary: never.
	_, ok = f.find(0, 80*k, 0, 4*k, 64*k)
	require.False(t, ok)
	at, ok = f.find(0, 80*k, 0, 4*k, 0)
	require.True(t, ok)
	require.EqualValues(t, 0, at)
	// Measured from base.
	at, ok = f.find(1*k, 16*k, 4*k, 16*k, 64*k)
	require.True(t, ok)
	require.EqualValues(t, 4*k, at)
	at, ok = f.find(60*k, 16*k, 4*k, 16*k, 64*k)
	require.True(t, ok)
	require.EqualValues(t, 68*k, at, "64 KiB past base 4 KiB")
}
