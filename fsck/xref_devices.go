package fsck

import "slices"

// chunksVsDevExtents checks that every chunk stripe has its dev extent, as
// long as the stripe and naming the chunk, and that every dev extent
// belongs to a stripe (#55).
func (r *run) chunksVsDevExtents() {
	f := &r.x.alloc
	for i := range f.chunks {
		c := &f.chunks[i]
		for s, st := range c.c.Stripes {
			d := f.devExtentAt(st.DevID, st.Offset)
			if d == nil {
				r.xadd(KindAllocation, 55, c.at, "chunk %d stripe %d (devid %d offset %d) has no dev extent",
					c.start, s, st.DevID, st.Offset)
				continue
			}
			d.claimed = true
			if want := stripeLength(c.c); d.length != want {
				r.xadd(KindAllocation, 55, d.at, "dev extent length %d, chunk %d stripe length %d", d.length, c.start, want)
			}
			if d.chunk != c.start {
				r.xadd(KindAllocation, 55, d.at, "dev extent chunk_offset %d, but chunk %d stripe %d is here", d.chunk, c.start, s)
			}
		}
	}
	for i := range f.devExts {
		if d := &f.devExts[i]; !d.claimed {
			r.xadd(KindAllocation, 55, d.at, "dev extent (devid %d offset %d) belongs to no chunk", d.devid, d.phys)
		}
	}
}

// devExtentAt finds the dev extent at (devid, phys) in the sorted list.
func (f *allocFacts) devExtentAt(devid, phys uint64) *devExtRec {
	i, ok := slices.BinarySearchFunc(f.devExts, [2]uint64{devid, phys}, func(d devExtRec, k [2]uint64) int {
		if c := cmpU64(d.devid, k[0]); c != 0 {
			return c
		}
		return cmpU64(d.phys, k[1])
	})
	if !ok {
		return nil
	}
	return &f.devExts[i]
}

// devItem finds the chunk tree's DEV_ITEM of devid.
func (f *allocFacts) devItem(devid uint64) *devItemRec {
	for i := range f.devItems {
		if f.devItems[i].d.DevID == devid {
			return &f.devItems[i]
		}
	}
	return nil
}

// devExtentPlacement checks that dev extents do not overlap and lie on a
// known device, inside its size (#55). Overlap inside one leaf is the
// checker's (#35).
func (r *run) devExtentPlacement() {
	f := &r.x.alloc
	for i := range f.devExts {
		d := &f.devExts[i]
		if i > 0 {
			if p := &f.devExts[i-1]; p.devid == d.devid && d.phys < p.end() && p.at.block != d.at.block {
				r.xadd(KindAllocation, 55, d.at, "dev extent [%d, %d) overlaps dev extent [%d, %d)", d.phys, d.end(), p.phys, p.end())
			}
		}
		dev := f.devItem(d.devid)
		switch {
		case dev == nil:
			r.xadd(KindAllocation, 55, d.at, "dev extent on device %d, which has no DEV_ITEM", d.devid)
		case d.end() > dev.d.TotalBytes:
			r.xadd(KindAllocation, 55, d.at, "dev extent ends at %d, past the size %d of device %d", d.end(), dev.d.TotalBytes, d.devid)
		}
	}
}

// devices checks the device items (#56): bytes_used is the sum of the
// device's dev extents; the superblock's dev_item, total_bytes and
// num_devices agree with the chunk tree.
func (r *run) devices() {
	f := &r.x.alloc
	var total uint64
	for i := range f.devItems {
		dev := &f.devItems[i]
		var used uint64
		for j := range f.devExts {
			if f.devExts[j].devid == dev.d.DevID {
				used += f.devExts[j].length
			}
		}
		if used != dev.d.BytesUsed {
			r.xadd(KindAllocation, 56, dev.at, "device %d bytes_used %d, its dev extents sum to %d", dev.d.DevID, dev.d.BytesUsed, used)
		}
		total += dev.d.TotalBytes
	}
	s := r.img.Super
	r.superDevItem()
	switch {
	case s.TotalBytes < total:
		r.xadd(KindAllocation, 56, superLoc(), "total_bytes %d is below the devices' total %d", s.TotalBytes, total)
	case s.TotalBytes > total:
		r.xwarn(KindAllocation, 56, superLoc(), "total_bytes %d is above the devices' total %d", s.TotalBytes, total)
	}
	if s.NumDevices != uint64(len(f.devItems)) {
		r.xadd(KindAllocation, 56, superLoc(), "num_devices %d, the chunk tree has %d DEV_ITEMs", s.NumDevices, len(f.devItems))
	}
}

// superDevItem compares the superblock's dev_item with the chunk tree's.
func (r *run) superDevItem() {
	sd := &r.img.Super.DevItem
	dev := r.x.alloc.devItem(sd.DevID)
	switch {
	case dev == nil:
		r.xadd(KindAllocation, 56, superLoc(), "dev_item devid %d has no DEV_ITEM in the chunk tree", sd.DevID)
	case dev.d.TotalBytes != sd.TotalBytes || dev.d.BytesUsed != sd.BytesUsed || dev.d.UUID != sd.UUID:
		r.xadd(KindAllocation, 56, superLoc(),
			"dev_item (total_bytes %d, bytes_used %d, uuid %v) differs from DEV_ITEM %d (total_bytes %d, bytes_used %d, uuid %v)",
			sd.TotalBytes, sd.BytesUsed, sd.UUID, sd.DevID, dev.d.TotalBytes, dev.d.BytesUsed, dev.d.UUID)
	}
}
