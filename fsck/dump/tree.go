package dump

import (
	"fmt"
	"io"
	"strings"

	"cowfs/disk/format"
)

// BlockInfo is what rendering a tree block needs beyond its bytes.
type BlockInfo struct {
	CsumSize   int    // bytes per data checksum (EXTENT_CSUM ranges)
	SectorSize uint32 // bytes covered by one data checksum
}

// Block writes one tree block as dump-tree prints it: the header lines, then
// the key pointers of a node or the items of a leaf. The block should have
// been verified; an item header pointing outside the leaf still prints one
// line and ends the block rather than panicking.
func Block(w io.Writer, block []byte, info BlockInfo) error {
	if len(block) < format.HeaderSize {
		_, err := fmt.Fprintf(w, "block of %d bytes is shorter than a header\n", len(block))
		return err
	}
	var b strings.Builder
	h := format.Header(block)
	if h.Level() > 0 {
		nodeBody(&b, format.Node(block))
	} else {
		leafBody(&b, format.Leaf(block), info)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// headerLines prints the flags and uuid lines common to nodes and leaves.
func headerLines(b *strings.Builder, h format.Header, kind string) {
	fmt.Fprintf(b, "%s %d flags 0x%x(%s) backref revision %d\n",
		kind, h.Bytenr(), h.Flags(), bitNames(h.Flags(), headerFlagNames, ""), h.BackrefRev())
	fmt.Fprintf(b, "fs uuid %s\nchunk uuid %s\n", h.Fsid(), h.ChunkTreeUUID())
}

func nodeBody(b *strings.Builder, n format.Node) {
	h := n.Header()
	maxPtrs := (len(n) - format.HeaderSize) / format.KeyPtrSize
	nr := n.NrItems()
	fmt.Fprintf(b, "node %d level %d items %d free space %d generation %d owner %s\n",
		h.Bytenr(), h.Level(), nr, uint32(maxPtrs-nr), h.Generation(), ObjectID(h.Owner(), 0))
	headerLines(b, h, "node")
	for i := 0; i < nr && n.PtrInBounds(i); i++ {
		p := n.Ptr(i)
		fmt.Fprintf(b, "\t%s block %d gen %d\n", Key(p.Key), p.BlockPtr, p.Generation)
	}
}

func leafBody(b *strings.Builder, l format.Leaf, info BlockInfo) {
	h := l.Header()
	fmt.Fprintf(b, "leaf %d items %d free space %d generation %d owner %s\n",
		h.Bytenr(), l.NrItems(), leafFreeSpace(l), h.Generation(), ObjectID(h.Owner(), 0))
	headerLines(b, h, "leaf")
	for i := 0; i < l.NrItems(); i++ {
		data, err := l.ItemDataChecked(i)
		if err != nil {
			fmt.Fprintf(b, "\titem %d: %v, skipping the remaining items\n", i, err)
			return
		}
		k := l.ItemKey(i)
		fmt.Fprintf(b, "\titem %d %s itemoff %d itemsize %d\n", i, Key(k), l.ItemOffset(i), l.ItemSize(i))
		itemBody(b, item{key: k, data: data, info: info})
	}
}

// leafFreeSpace is dump-tree's "free space": the leaf data area minus the
// item headers and the span from the last item's data to the first's end.
func leafFreeSpace(l format.Leaf) int {
	size := len(l) - format.HeaderSize
	nr := l.NrItems()
	if nr == 0 {
		return size
	}
	if format.HeaderSize+nr*format.ItemHeaderSize > len(l) {
		return 0
	}
	used := int(l.ItemOffset(0)) + int(l.ItemSize(0)) - int(l.ItemOffset(nr-1))
	return size - used - nr*format.ItemHeaderSize
}

// treeNames is the word dump-tree puts before "tree key (...)" for each
// ROOT_ITEM; subvolumes and unknown ids print "file".
var treeNames = map[uint64]string{
	format.ExtentTreeObjectID:     "extent",
	format.ChunkTreeObjectID:      "chunk",
	format.DevTreeObjectID:        "device",
	format.FSTreeObjectID:         "fs",
	format.RootTreeDirObjectID:    "directory",
	format.CsumTreeObjectID:       "checksum",
	format.OrphanObjectID:         "orphan",
	format.TreeLogObjectID:        "log",
	format.TreeLogFixupObjectID:   "log fixup",
	format.TreeRelocObjectID:      "reloc",
	format.DataRelocTreeObjectID:  "data reloc",
	format.ExtentCsumObjectID:     "extent checksum",
	format.QuotaTreeObjectID:      "quota",
	format.UUIDTreeObjectID:       "uuid",
	format.FreeSpaceTreeObjectID:  "free space",
	format.BlockGroupTreeObjectID: "block group",
	format.MultipleObjectIDs:      "multiple",
}

// TreeTitle is the line dump-tree prints before a tree found through a
// ROOT_ITEM: "fs tree key (FS_TREE ROOT_ITEM 0) " (with the trailing space).
func TreeTitle(rootKey format.Key) string {
	name, ok := treeNames[rootKey.ObjectID]
	if !ok {
		name = "file"
	}
	return fmt.Sprintf("%s tree %s \n", name, Key(rootKey))
}

// Trailer is what dump-tree prints after the trees it walked through the
// root tree.
func Trailer(s *format.Super) string {
	return fmt.Sprintf("total bytes %d\nbytes used %d\nuuid %s\n", s.TotalBytes, s.BytesUsed, s.Fsid)
}
