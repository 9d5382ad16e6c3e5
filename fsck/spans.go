package fsck

import "slices"

// span is the byte range [start, end).
type span struct{ start, end uint64 }

// spans is a sorted list of disjoint, non-adjacent ranges (see normalize).
type spans []span

// normalize sorts s and merges overlapping or adjacent ranges; empty ranges
// are dropped. It reuses s's storage.
func normalize(s []span) spans {
	slices.SortFunc(s, func(a, b span) int { return cmpU64(a.start, b.start) })
	out := s[:0]
	for _, x := range s {
		if x.end <= x.start {
			continue
		}
		if n := len(out); n > 0 && x.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out
}

// first returns the index of the first range ending after a.
func (s spans) first(a uint64) int {
	i, _ := slices.BinarySearchFunc(s, a, func(x span, a uint64) int {
		if x.end <= a {
			return -1
		}
		return 1
	})
	return i
}

// gap returns the first byte of [a, b) that s does not cover; ok is true
// when s covers all of it.
func (s spans) gap(a, b uint64) (uint64, bool) {
	i := s.first(a)
	if a >= b {
		return 0, true
	}
	if i == len(s) || s[i].start > a {
		return a, false
	}
	if s[i].end >= b {
		return 0, true
	}
	return s[i].end, false
}

// overlaps reports whether s covers any byte of [a, b).
func (s spans) overlaps(a, b uint64) bool {
	i := s.first(a)
	return a < b && i < len(s) && s[i].start < b
}

// minus returns s without the bytes of t (both normalized).
func (s spans) minus(t spans) spans {
	var out spans
	j := 0
	for _, x := range s {
		for j < len(t) && t[j].end <= x.start {
			j++
		}
		cur := x.start
		for k := j; k < len(t) && t[k].start < x.end; k++ {
			if t[k].start > cur {
				out = append(out, span{cur, t[k].start})
			}
			cur = max(cur, t[k].end)
		}
		if cur < x.end {
			out = append(out, span{cur, x.end})
		}
	}
	return out
}
