package cache

// PinList holds buffers pinned against writeback (BlockWriteback), each
// with a reference, until UnpinAll: the storage of the pin COW policies
// (a search's pins, a handle's). It is not safe for concurrent use.
type PinList struct {
	c   *Cache
	ebs []*ExtentBuffer
}

// NewPinList returns an empty list for c's buffers with room for n pins.
func NewPinList(c *Cache, n int) PinList {
	return PinList{c: c, ebs: make([]*ExtentBuffer, 0, n)}
}

// Reuse returns an empty list for c's buffers with p's room (p must be
// empty): a pooled searcher's list serves whichever cache it meets next.
func (p PinList) Reuse(c *Cache) PinList { return PinList{c: c, ebs: p.ebs[:0]} }

// Pin blocks eb's writeback and takes a reference until UnpinAll.
func (p *PinList) Pin(eb *ExtentBuffer) {
	eb.BlockWriteback()
	p.ebs = append(p.ebs, p.c.Ref(eb))
}

// UnpinAll undoes every Pin and empties the list, keeping its room. A
// buffer freed meanwhile is still referenced, so it cannot have been
// reused.
func (p *PinList) UnpinAll() {
	for _, eb := range p.ebs {
		eb.UnblockWriteback()
		p.c.Release(eb)
	}
	clear(p.ebs)
	p.ebs = p.ebs[:0]
}
