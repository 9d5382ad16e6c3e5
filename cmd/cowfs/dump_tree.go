package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"cowfs/checker"
	"cowfs/disk/format"
	"cowfs/fsck"
	"cowfs/fsck/dump"
)

func newDumpTreeCmd() *cobra.Command {
	var tree string
	var blocks []string
	cmd := &cobra.Command{
		Use:   "dump-tree [-t TREE] [-b BYTENR]... IMAGE",
		Short: "print tree blocks as btrfs inspect-internal dump-tree does",
		Long: `dump-tree prints every tree (or one, with -t; or single blocks, with -b) in
the layout of btrfs inspect-internal dump-tree. Every block is verified
(checksum and the kernel's tree-checker rules) before it is printed; a bad
block prints the checker's error line instead, and the dump goes on.

TREE is a name (root, extent, chunk, dev, fs, csum, quota, uuid, free-space,
block-group, data-reloc, log) or a tree id. Exit status 1 when a block was
bad, or when the primary superblock was damaged or broke a superblock rule
(the dump then uses a valid mirror, if any, and says so on stderr).`,
		Args: imageArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseTreeFlag(tree)
			if err != nil {
				return err
			}
			addrs, err := parseBlockFlags(blocks)
			if err != nil {
				return err
			}
			return runDumpTree(cmd, args[0], id, addrs)
		},
	}
	cmd.Flags().StringVarP(&tree, "tree", "t", "", "print only this tree (name or id)")
	cmd.Flags().StringArrayVarP(&blocks, "block", "b", nil, "print only the block at this logical address (repeatable)")
	return cmd
}

func runDumpTree(cmd *cobra.Command, path string, tree *uint64, blocks []uint64) error {
	dev, err := openInspectImage(cmd, path)
	if err != nil {
		return err
	}
	defer dev.Close()
	img, err := fsck.Open(dev)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	badSuper := warnBadPrimary(cmd.ErrOrStderr(), path, img)
	w := bufio.NewWriter(cmd.OutOrStdout())
	p := newTreePrinter(w, img)
	switch {
	case len(blocks) > 0:
		p.blocks(blocks)
	case tree == nil:
		img.WalkAll(p)
		p.trailer()
	default:
		p.tree(*tree)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if p.bad > 0 || badSuper {
		return exitCode(1)
	}
	return nil
}

// warnBadPrimary says on w when the primary superblock is damaged or breaks
// a superblock rule (btrfs-progs and the kernel refuse such an image), and
// which copy the dump goes on from; it reports whether it said so (the
// command then exits 1).
func warnBadPrimary(w io.Writer, path string, img *fsck.Image) bool {
	if len(img.Supers) == 0 || img.Supers[0].Mirror != 0 || img.Supers[0].Err == nil {
		return false
	}
	from := fmt.Sprintf("dumping from the superblock copy at %d", img.Super.Bytenr)
	if img.Super.Bytenr == uint64(img.Supers[0].Offset) {
		from = "no copy is valid: dumping from the primary anyway"
	}
	fmt.Fprintf(w, "cowfs: %s: primary %v; %s\n", path, img.Supers[0].Err, from)
	return true
}

// treePrinter prints the blocks of a walk (it is an fsck.Walker).
type treePrinter struct {
	w    io.Writer
	img  *fsck.Image
	info dump.BlockInfo
	bad  int // blocks that failed verification
}

func newTreePrinter(w io.Writer, img *fsck.Image) *treePrinter {
	s := img.Super
	return &treePrinter{w: w, img: img, info: dump.BlockInfo{CsumSize: s.CsumType.Size(), SectorSize: s.SectorSize}}
}

// Start prints the line dump-tree puts before each tree; every tree is
// printed.
func (p *treePrinter) Start(t fsck.Tree) bool {
	switch {
	case t.RootKey != nil:
		io.WriteString(p.w, dump.TreeTitle(*t.RootKey))
	case t.ID == format.RootTreeObjectID:
		io.WriteString(p.w, "root tree\n")
	case t.ID == format.ChunkTreeObjectID:
		io.WriteString(p.w, "chunk tree\n")
	case t.ID == format.TreeLogObjectID:
		io.WriteString(p.w, "log root tree\n")
	}
	return true
}

// Visit prints a block, or why it cannot be printed. A block whose only
// faults are in item contents is printed after its error lines.
func (p *treePrinter) Visit(v *fsck.Visit) bool {
	switch {
	case v.Dup:
		p.bad++
		fmt.Fprintf(p.w, "tree block %d reached twice in this tree, not printed again\n", v.Expect.Bytenr)
		return false
	case v.Err != nil:
		p.bad++
		fmt.Fprintln(p.w, v.Err)
		return false
	}
	p.printBlock(v.Block, v.Errs)
	return true
}

func (p *treePrinter) printBlock(block []byte, errs []*checker.Error) {
	if len(errs) > 0 {
		p.bad++
	}
	for _, e := range fsck.Significant(errs) {
		fmt.Fprintln(p.w, e)
	}
	if fsck.Structural(errs) {
		dump.Block(p.w, block, p.info)
	}
}

func (p *treePrinter) trailer() { io.WriteString(p.w, dump.Trailer(p.img.Super)) }

// tree prints one tree: the root, chunk or log root tree alone, or every
// tree of the root tree's ROOT_ITEMs with that id, then the trailer.
func (p *treePrinter) tree(id uint64) {
	img := p.img
	switch id {
	case format.RootTreeObjectID:
		p.walk(img.RootTree())
	case format.ChunkTreeObjectID:
		p.walk(img.ChunkTree())
	case format.TreeLogObjectID:
		if t, ok := img.LogRootTree(); ok {
			p.walk(t)
		}
	default:
		for _, t := range img.RootItemTrees() {
			if t.ID == id {
				p.walk(t)
			}
		}
		p.trailer()
	}
}

func (p *treePrinter) walk(t fsck.Tree) {
	p.Start(t)
	p.img.Walk(t, p.Visit)
}

// blocks prints single blocks, checked only against their address.
func (p *treePrinter) blocks(addrs []uint64) {
	for _, a := range addrs {
		block, errs, err := p.img.ReadBlock(checker.ExpectAt(a))
		if err != nil {
			p.bad++
			fmt.Fprintln(p.w, err)
			continue
		}
		p.printBlock(block, errs)
	}
}

// treeIDs maps the names -t accepts to tree ids.
var treeIDs = map[string]uint64{
	"root": format.RootTreeObjectID, "extent": format.ExtentTreeObjectID,
	"chunk": format.ChunkTreeObjectID, "dev": format.DevTreeObjectID,
	"device": format.DevTreeObjectID, "fs": format.FSTreeObjectID,
	"csum": format.CsumTreeObjectID, "checksum": format.CsumTreeObjectID,
	"quota": format.QuotaTreeObjectID, "uuid": format.UUIDTreeObjectID,
	"free-space": format.FreeSpaceTreeObjectID, "block-group": format.BlockGroupTreeObjectID,
	"data-reloc": format.DataRelocTreeObjectID, "log": format.TreeLogObjectID,
	"tree-log": format.TreeLogObjectID, "reloc": format.TreeRelocObjectID,
}

// parseTreeFlag parses -t: a name (any case, "_" for "-", an optional
// "-tree" suffix), an id, or a negative id (-9 is the data-reloc tree).
func parseTreeFlag(s string) (*uint64, error) {
	if s == "" {
		return nil, nil
	}
	name := strings.TrimSuffix(strings.ReplaceAll(strings.ToLower(s), "_", "-"), "-tree")
	if id, ok := treeIDs[name]; ok {
		return &id, nil
	}
	if id, err := strconv.ParseUint(s, 0, 64); err == nil {
		return &id, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n < 0 {
		id := uint64(n)
		return &id, nil
	}
	return nil, usagef("dump-tree: unknown tree %q", s)
}

// parseBlockFlags parses the -b addresses, sorted and without repeats as
// btrfs-progs prints them.
func parseBlockFlags(in []string) ([]uint64, error) {
	var out []uint64
	for _, s := range in {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return nil, usagef("dump-tree: bad block address %q", s)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
