package transaction

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// The report says what lenient reservations did: held, paid an overspend
// from free space and completed, or ran the device out of metadata space
// (with the kernel's unbounded restarts, nothing else ends the loop).
func TestSeedReportLenient(t *testing.T) {
	cfg := DefaultSeedConfig()
	res := &SeedResult{Config: cfg}
	require.NotContains(t, res.String(), "lenient:", "strict runs have no lenient line")
	cfg.Reservations = Lenient
	for _, c := range []struct {
		overspent uint64
		err       error
		hold      int
		want      string
	}{
		{0, nil, -1, "lenient: the reservation held; nothing came from free space\n"},
		{4096, nil, 200, "lenient: 4096 bytes beyond the reservation came from free space, and the create completed\n"},
		{8192, errors.New("no space"), -1, "lenient: 8192 bytes beyond the reservation came from free space until metadata space ran out: with the kernel's unbounded restarts (hold-reads-after -1) nothing else ends the loop\n"},
		{8192, errors.New("no space"), 200, "lenient: 8192 bytes beyond the reservation came from free space until metadata space ran out\n"},
	} {
		cfg.HoldReadsAfter = c.hold
		res := &SeedResult{Config: cfg, CreateErr: c.err, Handle: HandleStats{Overspent: c.overspent}}
		require.Contains(t, res.String(), c.want)
	}
}
