package checker

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// failingCaseTests are the tests that corrupt one field of a valid block or
// superblock and assert, through assertOnlyRule or recordRule, that exactly
// one rule fires. TestEveryRuleHasFailingCase runs them and demands that
// together they make every rule of the package fire.
var failingCaseTests = []struct {
	name string
	f    func(*testing.T)
}{
	{"TestValidSuper", TestValidSuper},
	{"TestSuperRules", TestSuperRules},
	{"TestSuperSuspicious", TestSuperSuspicious},
	{"TestSuperSubRules", TestSuperSubRules},
	{"TestHeaderRules", TestHeaderRules},
	{"TestLeafStructureRules", TestLeafStructureRules},
	{"TestLeafLevelRule", TestLeafLevelRule},
	{"TestEmptyLeafRule", TestEmptyLeafRule},
	{"TestNodeRules", TestNodeRules},
	{"TestWriteRule", TestWriteRule},
	{"TestFileExtentRule", TestFileExtentRule},
	{"TestCsumItemRule", TestCsumItemRule},
	{"TestDirItemRule", TestDirItemRule},
	{"TestInodeRefRule", TestInodeRefRule},
	{"TestInodeItemRule", TestInodeItemRule},
	{"TestRootItemRule", TestRootItemRule},
	{"TestExtentItemRule", TestExtentItemRule},
	{"TestKeyedRefRule", TestKeyedRefRule},
	{"TestBlockGroupRule", TestBlockGroupRule},
	{"TestDevItemRule", TestDevItemRule},
	{"TestDevExtentRule", TestDevExtentRule},
	{"TestChunkItemRule", TestChunkItemRule},
	{"TestCheckChunk", TestCheckChunk},
	{"TestItemSubRules", TestItemSubRules},
	{"TestChunkProfileRules", TestChunkProfileRules},
}

// definedRules parses the package's non-test sources and returns every
// constant named Rule* with an integer literal value, except RuleInput (not
// a format rule), and the value of MaxRule. Reading the source rather than
// a hand-kept list means a rule added to rules.go (or anywhere in the
// package) without a failing case makes TestEveryRuleHasFailingCase fail.
func definedRules(t *testing.T) (map[int]string, int) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	rules, maxRule := map[int]string{}, -1
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					switch {
					case id.Name == "MaxRule":
						maxRule = MaxRule
					case strings.HasPrefix(id.Name, "Rule") && id.Name != "RuleInput":
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.INT {
							t.Fatalf("%s: %s is not an integer literal; teach definedRules", fset.Position(id.Pos()), id.Name)
						}
						v, err := strconv.Atoi(lit.Value)
						if err != nil {
							t.Fatal(err)
						}
						if prev, dup := rules[v]; dup {
							t.Fatalf("rule %d defined twice: %s and %s", v, prev, id.Name)
						}
						rules[v] = id.Name
					}
				}
			}
		}
	}
	if len(rules) == 0 {
		t.Fatal("no Rule* constants found: is the test running in the checker directory?")
	}
	return rules, maxRule
}

// missingRules lists the defined rules that never fired, in order.
func missingRules(defined map[int]string, fired map[int][]string) []string {
	var miss []string
	for v, name := range defined {
		if len(fired[v]) == 0 {
			miss = append(miss, fmt.Sprintf("#%d %s", v, name))
		}
	}
	sort.Strings(miss)
	return miss
}

// TestEveryRuleHasFailingCase is issue 2's "every checker rule has a
// failing-case test", enforced: it runs the failing-case tests, collects the
// rules they saw fire alone, and fails if a rule defined in the package
// (#1–#36 today) is not among them. With -v it logs the rule → test table.
func TestEveryRuleHasFailingCase(t *testing.T) {
	firedRules.Lock()
	firedRules.by = map[int][]string{}
	firedRules.Unlock()
	for _, c := range failingCaseTests {
		t.Run(c.name, c.f)
	}
	if t.Failed() {
		t.Fatal("a failing-case test failed; coverage not judged")
	}
	firedRules.Lock()
	fired := firedRules.by
	firedRules.Unlock()

	defined, maxRule := definedRules(t)
	for v := 1; v <= maxRule; v++ {
		if _, ok := defined[v]; !ok {
			t.Errorf("rule #%d (≤ MaxRule %d) has no Rule* constant", v, maxRule)
		}
	}
	for v, name := range defined {
		if v > maxRule {
			t.Errorf("%s = %d is above MaxRule %d", name, v, maxRule)
		}
	}
	for v := range fired {
		if _, ok := defined[v]; !ok {
			t.Errorf("rule %d fired but is not defined", v)
		}
	}
	if miss := missingRules(defined, fired); len(miss) != 0 {
		t.Fatalf("rules without a failing-case test (corrupt one field, expect exactly that rule): %s",
			strings.Join(miss, ", "))
	}
	for v := 1; v <= maxRule; v++ {
		tests := map[string]int{}
		for _, name := range fired[v] {
			tests[strings.SplitN(strings.TrimPrefix(name, t.Name()+"/"), "/", 2)[0]]++
		}
		var parts []string
		for name, n := range tests {
			parts = append(parts, fmt.Sprintf("%s (%d)", name, n))
		}
		sort.Strings(parts)
		t.Logf("#%-2d %-19s %s", v, defined[v], strings.Join(parts, ", "))
	}
}

// TestMissingRulesFails shows the coverage check can fail: with one rule's
// cases removed from what fired, that rule is reported.
func TestMissingRulesFails(t *testing.T) {
	defined, _ := definedRules(t)
	fired := map[int][]string{}
	for v := range defined {
		fired[v] = []string{"x"}
	}
	if miss := missingRules(defined, fired); len(miss) != 0 {
		t.Fatalf("all fired, yet missing %v", miss)
	}
	delete(fired, RuleDevExtent)
	if miss := missingRules(defined, fired); len(miss) != 1 || miss[0] != "#35 RuleDevExtent" {
		t.Fatalf("want [#35 RuleDevExtent], got %v", miss)
	}
	if len(defined) != 36 {
		t.Fatalf("want the 36 rules of btrfs-format.md §3.1–3.4, found %d: %v", len(defined), defined)
	}
}
