package cache

import (
	"fmt"

	"cowfs/checker"
	"cowfs/disk"
)

// Get returns the buffer at exp.Bytenr with a new reference. A cached buffer
// is returned as it is (it was verified when read, or made by Create).
// Otherwise the block is read through the chunk map — after reclaim has
// made room — and checked by checker.CheckBlock against exp: checksum,
// bytenr, fsid, level, generation, first key and owner as the parent's
// pointer expects them, then the leaf or node structure. A block that fails
// is never cached; the error is the checker's *checker.Error (errors.Is
// format.ErrCorrupt), or the I/O or chunk-map error. With several copies
// (DUP) each is tried in turn and the first error is returned if none
// passes. Concurrent Gets of one block read it once.
func (c *Cache) Get(exp checker.Expect) (*ExtentBuffer, error) {
	for {
		eb, wait := c.lookup(exp.Bytenr)
		switch {
		case eb != nil:
			return eb, nil
		case wait == nil:
			return c.load(exp)
		}
		<-wait
	}
}

// lookup returns the cached buffer with a new reference (a hit); or the
// channel to wait on while another goroutine loads it; or neither, after
// registering the caller as the loader (a miss). A hit takes only an index
// shard's read lock.
func (c *Cache) lookup(bytenr uint64) (*ExtentBuffer, <-chan struct{}) {
	if eb := c.mu.index.ref(bytenr); eb != nil {
		c.stats.hits.Add(1)
		return eb, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if eb := c.mu.index.ref(bytenr); eb != nil { // installed meanwhile
		c.stats.hits.Add(1)
		return eb, nil
	}
	if ch, ok := c.mu.loading[bytenr]; ok {
		return nil, ch
	}
	c.mu.loading[bytenr] = make(chan struct{})
	c.stats.misses.Add(1)
	return nil, nil
}

// load reads and verifies the block the caller registered in lookup.
func (c *Cache) load(exp checker.Expect) (*ExtentBuffer, error) {
	c.reserve()
	eb := c.newBuffer(exp.Bytenr, false) // read overwrites every byte
	if err := c.read(eb.data, exp); err != nil {
		eb.freeData()
		c.abandonLoad(exp.Bytenr)
		c.stats.readErrors.Add(1)
		return nil, err
	}
	eb.set(Uptodate)
	c.install(eb)
	return eb, nil
}

// abandonLoad gives back the bytes reserved for a failed read.
func (c *Cache) abandonLoad(bytenr uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.bytes -= c.nodesize
	c.endLoadLocked(bytenr)
}

// read fills buf with the first copy of the block that passes the checker.
func (c *Cache) read(buf []byte, exp checker.Expect) error {
	copies, err := c.cmap.Copies(exp.Bytenr, uint64(c.nodesize))
	if err != nil {
		return fmt.Errorf("cache: read block %d: %w", exp.Bytenr, err)
	}
	var first error
	for _, off := range copies {
		err := c.readCopy(buf, off, exp)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func (c *Cache) readCopy(buf []byte, off int64, exp checker.Expect) error {
	if err := c.dev.ReadAt(buf, off, disk.KindMeta); err != nil {
		return fmt.Errorf("cache: read block %d at physical %d: %w", exp.Bytenr, off, err)
	}
	// Return the checker's typed error itself, not wrapped.
	if err := checker.CheckBlock(buf, c.checkContext(), exp); err != nil {
		return err
	}
	return nil
}
