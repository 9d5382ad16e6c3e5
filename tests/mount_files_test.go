package tests

// Pattern files for the crash and ENOSPC tests: each file's content is a
// function of the seed and the file's number, written in chunks (in any
// order, some twice with the same bytes), so that whatever an image holds
// after a crash can be judged byte by byte: the chunks written before the
// last successful `cowfs sync` must be there; anything else must be the
// file's own bytes or zeros (a hole).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// span is a written byte range [off, off+n).
type span struct{ off, n int }

// patternFile is one file of the workload.
type patternFile struct {
	rel     string // path below the mount
	id      uint64
	size    int    // the size it will have once complete
	chunks  []span // chunks not yet written, in the order they will be
	written []span // chunks written, in order
	// committed is how many of written the last successful sync covers;
	// synced says the file existed at that sync.
	committed int
	synced    bool
}

// patternContent is the full content of file id.
func patternContent(seed, id uint64, size int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	binary.LittleEndian.PutUint64(key[8:], id)
	p := make([]byte, size)
	rand.NewChaCha8(key).Read(p)
	return p
}

// newPatternFile plans a file of size bytes in chunks of at most maxChunk
// bytes, written in a shuffled order, some of them twice.
func newPatternFile(rng *rand.Rand, rel string, id uint64, size, maxChunk int) *patternFile {
	f := &patternFile{rel: rel, id: id, size: size}
	for off := 0; off < size; {
		n := min(size-off, 1+rng.IntN(maxChunk))
		f.chunks = append(f.chunks, span{off, n})
		off += n
	}
	rng.Shuffle(len(f.chunks), func(i, j int) { f.chunks[i], f.chunks[j] = f.chunks[j], f.chunks[i] })
	for i := range len(f.chunks) {
		if rng.IntN(5) == 0 { // write it again later, with the same bytes
			f.chunks = slices.Insert(f.chunks, i+1+rng.IntN(len(f.chunks)-i), f.chunks[i])
		}
	}
	return f
}

func (f *patternFile) done() bool { return len(f.chunks) == 0 }

// writeNext writes the next chunk through fd (content: the file's bytes)
// and records it.
func (f *patternFile) writeNext(fd *os.File, content []byte) error {
	c := f.chunks[0]
	if _, err := fd.WriteAt(content[c.off:c.off+c.n], int64(c.off)); err != nil {
		return err
	}
	f.chunks = f.chunks[1:]
	f.written = append(f.written, c)
	return nil
}

// markSynced records a successful sync.
func (f *patternFile) markSynced() {
	f.committed, f.synced = len(f.written), true
}

// checkPatternFile judges the file as found below root after a crash or
// a remount; exact requires every written chunk (a clean unmount).
func checkPatternFile(root string, seed uint64, f *patternFile, exact bool) error {
	got, err := os.ReadFile(filepath.Join(root, f.rel))
	switch {
	case os.IsNotExist(err) && !f.synced && !exact:
		return nil // created after the last sync
	case err != nil:
		return err
	}
	want := patternContent(seed, f.id, f.size)
	if len(got) > f.size {
		return fmt.Errorf("%s: %d bytes, more than the %d ever written", f.rel, len(got), f.size)
	}
	for i, b := range got {
		if b != want[i] && b != 0 {
			return fmt.Errorf("%s: byte %d is %#x, neither the file's %#x nor a hole", f.rel, i, b, want[i])
		}
	}
	must := f.written[:f.committed]
	if exact {
		must = f.written
	}
	for _, c := range must {
		if c.off+c.n > len(got) || !bytes.Equal(got[c.off:c.off+c.n], want[c.off:c.off+c.n]) {
			return fmt.Errorf("%s: committed bytes [%d, %d) lost (file has %d bytes)", f.rel, c.off, c.off+c.n, len(got))
		}
	}
	return nil
}
