package fscktest

import (
	"os"
	"testing"

	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/fsck"
)

// Open opens path read-only as an fsck.Image, closed when t ends. Its
// shared lock refuses read-write opens of the image until then (a
// command under test included); withImage closes at once.
func Open(t testing.TB, path string) *fsck.Image {
	t.Helper()
	img, dev := open(t, path)
	t.Cleanup(func() { dev.Close() })
	return img
}

// withImage runs fn on path opened read-only, then closes it.
func withImage(t testing.TB, path string, fn func(*fsck.Image)) {
	t.Helper()
	img, dev := open(t, path)
	defer dev.Close()
	fn(img)
}

func open(t testing.TB, path string) (*fsck.Image, disk.Device) {
	t.Helper()
	dev, err := disk.OpenFile(path, disk.FileOptions{ReadOnly: true, Buffered: true})
	if err != nil {
		t.Fatal(err)
	}
	img, err := fsck.Open(dev)
	if err != nil {
		dev.Close()
		t.Fatalf("open %s: %v", path, err)
	}
	return img, dev
}

// BlockRef locates one verified tree block of an image.
type BlockRef struct {
	Tree   uint64 // id of the tree whose walk reached it first
	Bytenr uint64
	Phys   int64 // physical offset of its first copy
	Level  uint8
	Items  int
	Parent uint64 // the node pointing to it; 0 for a tree root
	Slot   int    // its pointer slot in Parent; -1 for a root
}

// blockLister is an fsck.Walker listing every usable block once.
type blockLister struct {
	img  *fsck.Image
	tree uint64
	seen map[uint64]bool
	out  []BlockRef
}

func (l *blockLister) Start(t fsck.Tree) bool { l.tree = t.ID; return true }

func (l *blockLister) Visit(v *fsck.Visit) bool {
	if !v.Usable() || v.Dup || l.seen[v.Expect.Bytenr] {
		return false
	}
	l.seen[v.Expect.Bytenr] = true
	phys, _ := l.img.Chunks.Physical(v.Expect.Bytenr, uint64(l.img.NodeSize()))
	h := format.Header(v.Block)
	l.out = append(l.out, BlockRef{Tree: l.tree, Bytenr: v.Expect.Bytenr, Phys: phys, Level: h.Level(),
		Items: int(h.NrItems()), Parent: v.Parent, Slot: v.Slot})
	return true
}

// Blocks lists every verified block of the image at path, in walk order.
func Blocks(t testing.TB, path string) []BlockRef {
	t.Helper()
	var out []BlockRef
	withImage(t, path, func(img *fsck.Image) {
		l := &blockLister{img: img, seen: map[uint64]bool{}}
		img.WalkAll(l)
		out = l.out
	})
	return out
}

// Find returns the first block of the image at path that pred accepts.
func Find(t testing.TB, path string, pred func(BlockRef) bool) BlockRef {
	t.Helper()
	for _, b := range Blocks(t, path) {
		if pred(b) {
			return b
		}
	}
	t.Fatalf("no block of %s matches", path)
	return BlockRef{}
}

// PatchBlock lets change edit the block at ref in the image at path. With
// fixCsum the block's checksum is recomputed afterwards, so that only the
// edited field is wrong; without it, the edit is also a checksum error.
// Every copy of a DUP block gets the same edit.
func PatchBlock(t testing.TB, path string, ref BlockRef, fixCsum bool, change func(block []byte)) {
	t.Helper()
	withImage(t, path, func(img *fsck.Image) { patchBlock(t, img, path, ref, fixCsum, change) })
}

func patchBlock(t testing.TB, img *fsck.Image, path string, ref BlockRef, fixCsum bool, change func(block []byte)) {
	block := make([]byte, img.NodeSize())
	readAt(t, path, block, ref.Phys)
	change(block)
	if fixCsum {
		img.Super.CsumType.SetBlockCsum(block)
	}
	copies, err := img.Chunks.Copies(ref.Bytenr, uint64(img.NodeSize()))
	if err != nil {
		copies = []int64{ref.Phys}
	}
	for _, phys := range copies {
		WriteAt(t, path, block, phys)
	}
}

// WriteAt overwrites bytes of a file in place.
func WriteAt(t testing.TB, path string, p []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(p, off); err != nil {
		t.Fatal(err)
	}
}

func readAt(t testing.TB, path string, p []byte, off int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(p, off); err != nil {
		t.Fatal(err)
	}
}
