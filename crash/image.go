package crash

import (
	"bytes"
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// pageSize is the granularity of the images' copy-on-write pages.
const pageSize = 4096

// zeroPage is the content of every page no layer holds.
var zeroPage = make([]byte, pageSize)

// image is a device's content as pages over a lower layer: its own pages,
// else the lower image's, else zeros (a recording starts from a zeroed
// device: mkfs is recorded too). digest, the XOR of a hash of every
// non-zero page and its index, names the content: equal contents, equal
// digests, whichever layers hold the pages.
type image struct {
	size   int64
	lower  *image
	pages  map[int64][]byte
	digest uint64
}

func newImage(size int64, lower *image) *image {
	im := &image{size: size, lower: lower, pages: map[int64][]byte{}}
	if lower != nil {
		im.digest = lower.digest
	}
	return im
}

// page returns the content of page i, shared: do not modify it.
func (im *image) page(i int64) []byte {
	for l := im; l != nil; l = l.lower {
		if p, ok := l.pages[i]; ok {
			return p
		}
	}
	return zeroPage
}

// pageHash names page i holding p.
func pageHash(i int64, p []byte) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	d := xxhash.New()
	d.Write(b[:])
	d.Write(p)
	return d.Sum64()
}

// contribution is page i's share of the digest: 0 for a zero page.
func (im *image) contribution(i int64, p []byte) uint64 {
	if bytes.Equal(p, zeroPage) {
		return 0
	}
	return pageHash(i, p)
}

// write copies p to off, page by page.
func (im *image) write(p []byte, off int64) {
	for len(p) > 0 {
		i, in := off/pageSize, off%pageSize
		n := min(int64(len(p)), pageSize-in)
		im.writePage(i, in, p[:n])
		p, off = p[n:], off+n
	}
}

// writePage writes p at in inside page i and updates the digest.
func (im *image) writePage(i, in int64, p []byte) {
	old := im.page(i)
	np, own := im.pages[i]
	if !own {
		np = bytes.Clone(old)
	}
	im.digest ^= im.contribution(i, old)
	copy(np[in:], p)
	im.pages[i] = np
	im.digest ^= im.contribution(i, np)
}

// read copies len(p) bytes at off into p.
func (im *image) read(p []byte, off int64) {
	for len(p) > 0 {
		i, in := off/pageSize, off%pageSize
		n := copy(p, im.page(i)[in:])
		p, off = p[n:], off+int64(n)
	}
}

// flatten folds the image into a full copy of the device.
func (im *image) flatten() []byte {
	out := make([]byte, im.size)
	im.read(out, 0)
	return out
}
