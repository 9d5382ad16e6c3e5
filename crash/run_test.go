package crash

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
)

func TestSeq1Probe(t *testing.T) {
	w := Seq1()[0]
	cfg := Config{Workload: w, Policy: ctree.PolicyAlways, Cut: DefaultCutOptions(), BtrfsCheckEvery: 0}
	res, err := Run(cfg)
	require.NoError(t, err)
	t.Logf("%+v distinct %d in %v", res, res.Distinct(), res.Elapsed)
}
