package tests

// The README and docs/ must be true for a new user who cloned only the
// repository: every relative link resolves inside it.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// mdLink matches a markdown link's target: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

func TestDocsLinksResolve(t *testing.T) {
	docs, err := filepath.Glob("../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, docs)
	for _, doc := range append(docs, "../README.md") {
		b, err := os.ReadFile(doc)
		require.NoError(t, err)
		require.False(t, strings.Contains(string(b), "../shared/"), "%s points into ../shared/, outside the repository", doc)
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") {
				continue
			}
			p := filepath.Join(filepath.Dir(doc), target)
			_, err := os.Stat(p)
			require.NoError(t, err, "%s links %s", doc, m[1])
			abs, _ := filepath.Abs(p)
			root, _ := filepath.Abs("..")
			require.True(t, strings.HasPrefix(abs, root+string(filepath.Separator)), "%s links %s, outside the repository", doc, m[1])
		}
	}
}

// TestNoSharedPaths: no code comment or doc cites the project's shared notes
// (outside the repository); the facts they held are described in place.
func TestNoSharedPaths(t *testing.T) {
	needle := "shared" + "/docs" // split so this file does not match itself
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".md")) {
			return err
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.False(t, strings.Contains(string(b), needle), "%s cites %s, outside the repository", p, needle)
		return nil
	})
	require.NoError(t, err)
}
