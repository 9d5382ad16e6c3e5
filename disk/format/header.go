package format

import "encoding/binary"

// Header is a byte view of a tree block (leaf or node). It is the block
// itself: setters write into the bytes, so the view can be checksummed and
// written out as is. Callers must pass at least HeaderSize bytes.
type Header []byte

var le = binary.LittleEndian

// Header field offsets (§2.4).
const (
	hdrFsid       = 32
	hdrBytenr     = 48
	hdrFlags      = 56
	hdrChunkUUID  = 64
	hdrGeneration = 80
	hdrOwner      = 88
	hdrNritems    = 96
	hdrLevel      = 100
)

const headerFlagMask = (uint64(1) << 56) - 1

func (h Header) Fsid() (u UUID)          { copy(u[:], h[hdrFsid:]); return }
func (h Header) SetFsid(u UUID)          { copy(h[hdrFsid:], u[:]) }
func (h Header) Bytenr() uint64          { return le.Uint64(h[hdrBytenr:]) }
func (h Header) SetBytenr(v uint64)      { le.PutUint64(h[hdrBytenr:], v) }
func (h Header) RawFlags() uint64        { return le.Uint64(h[hdrFlags:]) }
func (h Header) SetRawFlags(v uint64)    { le.PutUint64(h[hdrFlags:], v) }
func (h Header) ChunkTreeUUID() (u UUID) { copy(u[:], h[hdrChunkUUID:]); return }
func (h Header) SetChunkTreeUUID(u UUID) { copy(h[hdrChunkUUID:], u[:]) }
func (h Header) Generation() uint64      { return le.Uint64(h[hdrGeneration:]) }
func (h Header) SetGeneration(v uint64)  { le.PutUint64(h[hdrGeneration:], v) }
func (h Header) Owner() uint64           { return le.Uint64(h[hdrOwner:]) }
func (h Header) SetOwner(v uint64)       { le.PutUint64(h[hdrOwner:], v) }
func (h Header) NrItems() uint32         { return le.Uint32(h[hdrNritems:]) }
func (h Header) SetNrItems(v uint32)     { le.PutUint32(h[hdrNritems:], v) }
func (h Header) Level() uint8            { return h[hdrLevel] }
func (h Header) SetLevel(v uint8)        { h[hdrLevel] = v }

// Flags returns the low 56 bits of the flags field (WRITTEN, RELOC).
func (h Header) Flags() uint64 { return h.RawFlags() & headerFlagMask }

// BackrefRev returns the top byte of the flags field (must be 1).
func (h Header) BackrefRev() uint8 { return uint8(h.RawFlags() >> 56) }

// SetFlagsRev sets the flag bits and the backref revision together.
func (h Header) SetFlagsRev(flags uint64, rev uint8) {
	h.SetRawFlags(flags&headerFlagMask | uint64(rev)<<56)
}

// Written reports the WRITTEN flag: the block has been written to disk.
func (h Header) Written() bool { return h.RawFlags()&HeaderFlagWritten != 0 }

// SetWritten sets or clears the WRITTEN flag, leaving the other bits alone.
func (h Header) SetWritten(on bool) {
	f := h.RawFlags() &^ HeaderFlagWritten
	if on {
		f |= HeaderFlagWritten
	}
	h.SetRawFlags(f)
}

// Csum returns the 32-byte checksum field.
func (h Header) Csum() []byte { return h[:CsumFieldSize] }

// IsLeaf reports whether the block is a leaf (level 0).
func (h Header) IsLeaf() bool { return h.Level() == 0 }

// InitHeader zeroes block and writes a fresh header for a new tree block.
func InitHeader(block []byte, fsid, chunkUUID UUID, bytenr, gen, owner uint64, level uint8) Header {
	clear(block)
	h := Header(block)
	h.SetFsid(fsid)
	h.SetBytenr(bytenr)
	h.SetFlagsRev(0, BackrefRev)
	h.SetChunkTreeUUID(chunkUUID)
	h.SetGeneration(gen)
	h.SetOwner(owner)
	h.SetLevel(level)
	return h
}
