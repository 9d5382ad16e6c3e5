package tests

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// layers is the import order of STYLE.md: a package may import only packages
// of a strictly lower layer (or its own package tree). Packages are matched by
// their path below the module, longest prefix first.
var layers = map[string]int{
	"testmount":   0,
	"disk/format": 1,
	"disk":        2,
	"checker":     3,
	"cache":       4,
	"alloc":       5,
	"ctree":       6,
	"transaction": 7,
	"treelog":     8,
	"mkfs":        9,
	"fsck":        9,
	"fs":          10,
	"fuse":        11,
	"crash":       11,
	"cmd":         12,
	"tests":       13,
}

const module = "cowfs"

// layerOf returns the layer of a module package and whether it has one.
func layerOf(pkg string) (string, int, bool) {
	rel, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return "", 0, false
	}
	best, bestLayer := "", 0
	for prefix, l := range layers {
		if (rel == prefix || strings.HasPrefix(rel, prefix+"/")) && len(prefix) > len(best) {
			best, bestLayer = prefix, l
		}
	}
	return best, bestLayer, best != ""
}

type goPackage struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []goPackage {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	require.NoError(t, err, "go list")
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []goPackage
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestLayerOrder fails when a package imports one from its own or a later
// layer (other than its own sub-tree), or when a package has no layer.
func TestLayerOrder(t *testing.T) {
	for _, p := range listPackages(t) {
		name, layer, ok := layerOf(p.ImportPath)
		require.True(t, ok, "package %s has no layer in tests/layers_test.go", p.ImportPath)
		for _, imp := range p.Imports {
			impName, impLayer, ok := layerOf(imp)
			if !ok || impName == name {
				continue
			}
			require.Less(t, impLayer, layer, "%s (layer %d) imports %s (layer %d): lower layers must not import higher ones",
				p.ImportPath, layer, imp, impLayer)
		}
	}
}

// TestLayerRuleCatchesViolation proves the rule can fail.
func TestLayerRuleCatchesViolation(t *testing.T) {
	_, disk, _ := layerOf(module + "/disk")
	_, ctree, _ := layerOf(module + "/ctree")
	_, format, _ := layerOf(module + "/disk/format")
	require.Less(t, format, disk)
	require.Less(t, disk, ctree)
	_, _, ok := layerOf("github.com/spf13/cobra")
	require.False(t, ok)
}
