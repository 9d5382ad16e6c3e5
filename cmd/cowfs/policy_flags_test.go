package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/ctree"
)

// Every policy a flag accepts is explained in its help.
func TestPolicyUsageNamesEveryPolicy(t *testing.T) {
	for _, n := range append(ctree.PolicyNames(), ctree.UnsafePolicyNames()...) {
		if policyMeaning[n] == "" {
			t.Errorf("policy %q has no meaning in policyMeaning", n)
		}
		require.Contains(t, policyUsage(), n)
	}
}

// A negative control needs --unsafe-policy, and then warns.
func TestParsePolicyUnsafe(t *testing.T) {
	for _, n := range ctree.UnsafePolicyNames() {
		var warn bytes.Buffer
		_, err := parsePolicy("--policy", n, false, &warn)
		var ue usageError
		require.True(t, errors.As(err, &ue), "%v", err)
		require.ErrorContains(t, err, "--unsafe-policy")
		require.Empty(t, warn.String())
		p, err := parsePolicy("--policy", n, true, &warn)
		require.NoError(t, err)
		require.Equal(t, n, p.String())
		require.Contains(t, warn.String(), "WARNING: COW policy "+n)
	}
	var warn bytes.Buffer
	for _, n := range ctree.PolicyNames() {
		_, err := parsePolicy("--cow-policy", n, false, &warn)
		require.NoError(t, err)
	}
	require.Empty(t, warn.String(), "safe policies do not warn")
}
