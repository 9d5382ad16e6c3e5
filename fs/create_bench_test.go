package fs

import (
	"fmt"
	"testing"
)

// BenchmarkCreate is what FUSE asks of the filesystem for one
// open(O_CREAT|O_EXCL) + close: a negative Lookup, Create, OpenFile and
// ReleaseFile, file i in directory i mod 100, no commit. Allocations per
// create are its figure (docs/benchmarks.md, "Where a create spends its
// time"); the time depends on the machine's load.
func BenchmarkCreate(b *testing.B) {
	tf := newTestFSOpts(b, 1<<30, testOptions())
	dirs := mkdirs(b, tf.FS, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dir, name := dirs[i%len(dirs)], fmt.Sprintf("f%08d", i)
		if _, err := tf.Lookup(dir, name); err == nil {
			b.Fatalf("%s exists", name)
		}
		at, err := tf.Create(dir, name, 0o644, Creator{})
		if err != nil {
			b.Fatal(err)
		}
		if err := tf.OpenFile(at.Ino); err != nil {
			b.Fatal(err)
		}
		if err := tf.ReleaseFile(at.Ino); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
