package crash

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
)

// checkRecording cuts a recording at L0 and returns the run's result.
func checkRecording(t *testing.T, r *recording) *Result {
	opts := DefaultCutOptions()
	opts.Levels = [NumLevels]bool{L0: true}
	ck, err := newChecker(Config{Workload: Workload{Name: "tampered"}, Cut: opts}, r)
	require.NoError(t, err)
	defer ck.close()
	require.NoError(t, cut(r.size, r.log, r.from, opts, ck.check))
	return &ck.res
}

// recordSeq1 records seq1/creat/sync under always.
func recordSeq1(t *testing.T) *recording {
	w, err := FindWorkloads("seq1/creat/sync")
	require.NoError(t, err)
	r, err := record(Config{Workload: w[0], Policy: ctree.PolicyAlways, ImageSize: DefaultImageSize})
	require.NoError(t, err)
	return r
}

// The model oracle fails a state whose contents differ from its
// generation's model: here the model of the last commit gains a name the
// workload never made.
func TestModelOracleFails(t *testing.T) {
	r := recordSeq1(t)
	require.Empty(t, checkRecording(t, r).Failures)
	last := r.env.commits[len(r.env.commits)-1].gen
	r.env.models[last]["/ghost"] = entry{Mode: 0o100644}
	res := checkRecording(t, r)
	require.NotEmpty(t, res.Failures)
	for _, f := range res.Failures {
		require.Equal(t, "model", f.Oracle, f.String())
		require.Contains(t, f.Detail, "/ghost missing")
	}
}

// The durability oracle fails a state older than a persistence point
// that returned before its crash point: here every persistence point
// claims to have returned before the first entry.
func TestDurabilityOracleFails(t *testing.T) {
	r := recordSeq1(t)
	for i := range r.env.commits {
		r.env.commits[i].entry = -1
	}
	res := checkRecording(t, r)
	require.NotEmpty(t, res.Failures)
	require.Equal(t, "durability", res.Failures[0].Oracle, res.Failures[0].String())
}
