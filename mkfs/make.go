package mkfs

import (
	"errors"
	"fmt"

	"cowfs/checker"
	"cowfs/disk"
	"cowfs/disk/format"
)

// Make writes a new, empty filesystem to dev and describes it.
//
// Nothing is written when the options are invalid (ErrInvalidOptions) or the
// device holds a valid btrfs superblock and opts.Force is not set
// (ErrExists). Otherwise the write order makes an interrupted mkfs leave a
// device that is recognisably not a filesystem: first the reserved first MiB
// and every superblock copy on the device are zeroed and flushed (an old
// filesystem can no longer look valid), then every tree block is written
// and flushed, and only then the superblock, whose magic is the last thing
// to reach the disk (primary durably, then the mirrors).
func Make(dev disk.Device, opts Options) (*Result, error) {
	if err := opts.Validate(dev.Size()); err != nil {
		return nil, err
	}
	if !opts.Force {
		if err := Probe(dev); err != nil {
			return nil, err
		}
	}
	p, err := newPlan(opts, dev.Size())
	if err != nil {
		return nil, err
	}
	blocks, err := p.buildBlocks()
	if err != nil {
		return nil, err
	}
	sb, err := p.superblock()
	if err != nil {
		return nil, err
	}
	if err := wipe(dev); err != nil {
		return nil, err
	}
	if err := p.writeBlocks(dev, blocks); err != nil {
		return nil, err
	}
	// Superblock copies are written up to the filesystem size, not beyond
	// it on a larger device.
	if err := disk.WriteSuper(limitDevice{dev, int64(p.size)}, sb); err != nil {
		return nil, fmt.Errorf("mkfs: %w", err)
	}
	return p.result(sb), nil
}

// Probe reports whether dev already holds a filesystem: an error wrapping
// ErrExists (naming its fsid) when some superblock copy is valid, nil when
// none is, or the I/O error that prevented looking. Make calls it unless
// Force is set; a caller about to change the device first (grow an image)
// calls it before doing so.
func Probe(dev disk.Device) error {
	s, err := checker.ReadSuper(dev)
	var none *disk.NoSuperError
	switch {
	case err == nil:
		return fmt.Errorf("%w (fsid %s)", ErrExists, s.Fsid)
	case errors.As(err, &none):
		// A copy with the btrfs magic that fails a later check is a
		// damaged filesystem, still one (mkfs.btrfs refuses it too).
		for _, c := range none.Copies {
			if c.Super != nil && c.Super.Magic == format.Magic {
				return fmt.Errorf("%w (damaged: %w)", ErrExists, c.Err)
			}
		}
		return nil
	case errors.Is(err, disk.ErrNoSuper):
		return nil
	}
	return fmt.Errorf("mkfs: probe for an existing filesystem: %w", err)
}

// wipe zeroes the reserved first MiB (the primary superblock and any other
// filesystem's signature) and every superblock mirror on the device, then
// flushes.
func wipe(dev disk.Device) error {
	zero := make([]byte, format.ReservedBytes)
	if err := dev.WriteAt(zero, 0, disk.KindSuper); err != nil {
		return fmt.Errorf("mkfs: wipe first MiB: %w", err)
	}
	for i := 1; i < format.SuperMirrorMax; i++ {
		off := format.MirrorOffset(i)
		if off+format.SuperSize > dev.Size() {
			break
		}
		if err := dev.WriteAt(zero[:format.SuperSize], off, disk.KindSuper); err != nil {
			return fmt.Errorf("mkfs: wipe superblock mirror at %d: %w", off, err)
		}
	}
	if err := dev.Flush(); err != nil {
		return fmt.Errorf("mkfs: flush after wipe: %w", err)
	}
	return nil
}

// buildBlocks encodes every tree's leaf, in treeOrder, and records item
// counts in the plan.
func (p *plan) buildBlocks() ([][]byte, error) {
	var blocks [][]byte
	for i, t := range p.trees {
		items := p.treeItems(t.ObjectID)
		b, err := p.encodeLeaf(t, items)
		if err != nil {
			return nil, err
		}
		p.trees[i].Items = len(items)
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// writeBlocks writes the leaves at their physical addresses and flushes.
func (p *plan) writeBlocks(dev disk.Device, blocks [][]byte) error {
	for i, t := range p.trees {
		off, err := p.physical(t.Bytenr)
		if err != nil {
			return err
		}
		if err := dev.WriteAt(blocks[i], off, disk.KindMeta); err != nil {
			return fmt.Errorf("mkfs: write %s leaf at %d: %w", t.Name, off, err)
		}
	}
	if err := dev.Flush(); err != nil {
		return fmt.Errorf("mkfs: flush tree blocks: %w", err)
	}
	return nil
}

// physical maps a logical address through the planned chunks.
func (p *plan) physical(logical uint64) (int64, error) {
	for _, c := range p.chunks {
		if c.Contains(logical, 1) {
			return int64(c.Physical + (logical - c.Logical)), nil
		}
	}
	return 0, fmt.Errorf("mkfs: logical %d is in no chunk", logical)
}

// result describes what was written.
func (p *plan) result(sb *format.Super) *Result {
	r := &Result{
		Fsid: p.o.Fsid, ChunkUUID: p.o.ChunkUUID, DevUUID: p.o.DevUUID, FSTreeUUID: p.o.FSTreeUUID,
		Label: p.o.Label, TotalBytes: p.size, BytesUsed: p.bytesUsed(),
		NodeSize: p.o.NodeSize, SectorSize: p.o.SectorSize, Csum: p.o.Csum,
		Generation: generation, Super: sb,
	}
	r.Chunks = append(r.Chunks, p.chunks...)
	r.Trees = append(r.Trees, p.trees...)
	for i := range format.SuperMirrorMax {
		if off := format.MirrorOffset(i); uint64(off)+format.SuperSize <= p.size {
			r.SuperCopies = append(r.SuperCopies, off)
		}
	}
	return r
}

// limitDevice presents only the first size bytes of a device, so that
// superblock mirrors beyond the filesystem's end are not written.
type limitDevice struct {
	disk.Device
	size int64
}

// Size is the limited size.
func (d limitDevice) Size() int64 { return d.size }
