package main

import (
	"testing"

	"cowfs/ctree"
)

// Every policy a flag accepts is explained in its help.
func TestPolicyUsageNamesEveryPolicy(t *testing.T) {
	for _, n := range ctree.PolicyNames() {
		if policyMeaning[n] == "" {
			t.Errorf("policy %q has no meaning in policyMeaning", n)
		}
	}
}
