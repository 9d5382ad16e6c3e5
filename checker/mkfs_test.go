package checker

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"cowfs/disk/format"
)

// TestMkfsImageBlocksPass makes real images with mkfs.btrfs (the minimal
// one of btrfs-format.md §1.1, a default one with DUP metadata and the
// free-space tree, and one populated from a directory) and checks the
// superblock and every tree block reachable from it.
func TestMkfsImageBlocksPass(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.btrfs")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mkfs.btrfs not installed, and CI is set")
		}
		t.Skip("SKIP: mkfs.btrfs not installed")
	}
	minimal := []string{"--csum", "xxhash", "-m", "single", "-d", "single", "-R", "^free-space-tree"}
	for _, c := range []struct {
		name string
		args []string
		min  int
	}{
		{"minimal", minimal, 8},
		{"default", nil, 9},
		{"rootdir", append(minimal, "--rootdir", populate(t)), 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := makeImage(t, mkfs, c.args)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := &imageWalker{t: t, f: f}
			w.run()
			if w.blocks < c.min {
				t.Fatalf("walked only %d tree blocks, want at least %d", w.blocks, c.min)
			}
			t.Logf("checked the superblock, %d tree blocks, %d items", w.blocks, w.items)
		})
	}
}

// makeImage runs mkfs.btrfs -f args on a fresh 256 MiB file.
func makeImage(t *testing.T, mkfs string, args []string) string {
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 256<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(mkfs, append(append([]string{"-f"}, args...), img)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.btrfs %v: %v\n%s", args, err, out)
	}
	return img
}

// populate builds a small tree for --rootdir: a directory, an inline file, a
// multi-extent file, a symlink, and many names in one directory.
func populate(t *testing.T) string {
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "d", "inline.txt"), []byte("hello, inline world\n"), 0o644))
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	must(os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644))
	must(os.WriteFile(filepath.Join(dir, "small.bin"), big[:6000], 0o600))
	must(os.Symlink("d/inline.txt", filepath.Join(dir, "link")))
	for i := range 200 {
		must(os.WriteFile(filepath.Join(dir, "d", "sub", fmt.Sprintf("file-%03d", i)), nil, 0o644))
	}
	return dir
}

// imageWalker reads a single-device image through its chunk map.
type imageWalker struct {
	t      *testing.T
	f      *os.File
	s      *format.Super
	ctx    Context
	chunks []format.SysChunk
	blocks int
	items  int
}

func (w *imageWalker) run() {
	raw := make([]byte, format.SuperSize)
	if _, err := w.f.ReadAt(raw, format.SuperInfoOffset); err != nil {
		w.t.Fatal(err)
	}
	s, err := format.DecodeSuper(raw)
	if err != nil {
		w.t.Fatal(err)
	}
	if warns, err := CheckSuper(s, raw, format.SuperInfoOffset); err != nil || len(warns) != 0 {
		w.t.Fatalf("superblock: %v %v", err, warns)
	}
	w.s, w.ctx = s, ContextFromSuper(s)
	if w.chunks, err = s.SysChunks(); err != nil {
		w.t.Fatal(err)
	}
	w.walk(Expect{Bytenr: s.ChunkRoot, Level: int(s.ChunkRootLevel), Generation: s.ChunkRootGeneration,
		Owner: format.ChunkTreeObjectID}, w.collectChunk)
	w.walk(Expect{Bytenr: s.Root, Level: int(s.RootLevel), Generation: s.Generation,
		Owner: format.RootTreeObjectID}, w.walkRoot)
}

// walk checks the block exp describes and, below it, the whole tree,
// calling leafItem on every leaf item.
func (w *imageWalker) walk(exp Expect, leafItem func(format.Key, []byte)) {
	b := w.read(exp.Bytenr)
	if errs := CheckBlockAll(b, w.ctx, exp); len(errs) != 0 {
		w.t.Fatalf("block %d (tree %d): %v", exp.Bytenr, exp.Owner, errs)
	}
	if err := CheckWrite(b, w.ctx, format.Header(b).Generation()-1); err != nil {
		w.t.Fatalf("block %d: write-time check: %v", exp.Bytenr, err)
	}
	w.blocks++
	if format.Header(b).Level() == 0 {
		l := format.Leaf(b)
		w.items += l.NrItems()
		for i := range l.NrItems() {
			leafItem(l.ItemKey(i), l.ItemData(i))
		}
		return
	}
	for i := range format.Node(b).NrItems() {
		child, _ := ExpectChild(b, i, exp.Owner)
		w.walk(child, leafItem)
	}
}

func (w *imageWalker) collectChunk(key format.Key, data []byte) {
	if key.Type != format.ChunkItemKey {
		return
	}
	c, err := format.DecodeChunkItem(data)
	if err != nil {
		w.t.Fatal(err)
	}
	w.chunks = append(w.chunks, format.SysChunk{Key: key, Chunk: c})
}

// walkRoot follows every ROOT_ITEM of the root tree into its tree.
func (w *imageWalker) walkRoot(key format.Key, data []byte) {
	if key.Type != format.RootItemKey {
		return
	}
	ri, err := format.DecodeRootItem(data)
	if err != nil {
		w.t.Fatal(err)
	}
	w.walk(Expect{Bytenr: ri.Bytenr, Level: int(ri.Level), Generation: ri.Generation, Owner: key.ObjectID},
		func(format.Key, []byte) {})
}

// read maps logical to physical through the first stripe of its chunk.
func (w *imageWalker) read(logical uint64) []byte {
	for _, c := range w.chunks {
		start := c.Key.Offset
		if logical >= start && logical < start+c.Chunk.Length {
			b := make([]byte, w.s.NodeSize)
			phys := int64(c.Chunk.Stripes[0].Offset + (logical - start))
			if _, err := w.f.ReadAt(b, phys); err != nil {
				w.t.Fatal(err)
			}
			return b
		}
	}
	w.t.Fatalf("logical %d is in no chunk", logical)
	return nil
}
