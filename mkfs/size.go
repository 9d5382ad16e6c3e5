package mkfs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}}

// ParseSize parses a byte count with an optional binary suffix: 4096, 16K,
// 256M, 2G, 1T (case-insensitive; "KiB" and "KB" are accepted too and both
// mean 1024). Errors wrap ErrInvalidOptions.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	shift := uint(0)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, shift = strings.TrimSuffix(t, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || t == "" {
		return 0, invalid("bad size %q (want a number with an optional K, M, G or T suffix)", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, invalid("size %q is too large", s)
	}
	return n << shift, nil
}

// FormatSize prints a byte count in the largest binary unit that divides it
// exactly (256MiB), or with two decimals (1.50GiB) when none does.
func FormatSize(n int64) string {
	for _, u := range sizeUnits {
		unit := int64(1) << u.shift
		if n >= unit && n%unit == 0 {
			return fmt.Sprintf("%d%siB", n/unit, u.suffix)
		}
	}
	for _, u := range sizeUnits {
		unit := int64(1) << u.shift
		if n >= unit {
			return fmt.Sprintf("%.2f%siB", float64(n)/float64(unit), u.suffix)
		}
	}
	return fmt.Sprintf("%dB", n)
}
