package dump

import (
	"fmt"
	"strings"

	"cowfs/disk/format"
)

func chunkItemBody(b *strings.Builder, it item) error {
	c, err := format.DecodeChunkItem(it.data)
	if err != nil {
		return err
	}
	chunkItem(b, c)
	return nil
}

// chunkItem prints a chunk as dump-tree and dump-super's sys_chunk_array do.
func chunkItem(b *strings.Builder, c *format.ChunkItem) {
	fmt.Fprintf(b, "\t\tlength %d owner %d stripe_len %d type %s\n", c.Length, c.Owner, c.StripeLen, blockGroupFlags(c.Type))
	fmt.Fprintf(b, "\t\tio_align %d io_width %d sector_size %d\n", c.IOAlign, c.IOWidth, c.SectorSize)
	fmt.Fprintf(b, "\t\tnum_stripes %d sub_stripes %d\n", c.NumStripes, c.SubStripes)
	for i, s := range c.Stripes {
		fmt.Fprintf(b, "\t\t\tstripe %d devid %d offset %d\n", i, s.DevID, s.Offset)
		fmt.Fprintf(b, "\t\t\tdev_uuid %s\n", s.DevUUID)
	}
}

func devItem(b *strings.Builder, it item) error {
	d, err := format.DecodeDevItem(it.data)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\t\tdevid %d total_bytes %d bytes_used %d\n", d.DevID, d.TotalBytes, d.BytesUsed)
	fmt.Fprintf(b, "\t\tio_align %d io_width %d sector_size %d type %d\n", d.IOAlign, d.IOWidth, d.SectorSize, d.Type)
	fmt.Fprintf(b, "\t\tgeneration %d start_offset %d dev_group %d\n", d.Generation, d.StartOffset, d.DevGroup)
	fmt.Fprintf(b, "\t\tseek_speed %d bandwidth %d\n", d.SeekSpeed, d.Bandwidth)
	fmt.Fprintf(b, "\t\tuuid %s\n", d.UUID)
	fmt.Fprintf(b, "\t\tfsid %s\n", d.Fsid)
	return nil
}

func devExtent(b *strings.Builder, it item) error {
	d, err := format.DecodeDevExtent(it.data)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\t\tdev extent chunk_tree %d\n", d.ChunkTree)
	fmt.Fprintf(b, "\t\tchunk_objectid %d chunk_offset %d length %d\n", d.ChunkObjectID, d.ChunkOffset, d.Length)
	fmt.Fprintf(b, "\t\tchunk_tree_uuid %s\n", d.ChunkTreeUUID)
	return nil
}

// persistentItem prints PERSISTENT_ITEM; only DEV_STATS has a known body.
func persistentItem(b *strings.Builder, it item) error {
	fmt.Fprintf(b, "\t\tpersistent item objectid %s offset %d\n", ObjectID(it.key.ObjectID, it.key.Type), it.key.Offset)
	if it.key.ObjectID != format.DevStatsObjectID {
		fmt.Fprintf(b, "\t\tunknown persistent item objectid %d\n", it.key.ObjectID)
		return nil
	}
	known := len(format.DevStats{}.Values) * 8
	if len(it.data) < known {
		return short("dev stats", len(it.data), known)
	}
	fmt.Fprintf(b, "\t\tdevice stats\n")
	fmt.Fprintf(b, "\t\twrite_errs %d read_errs %d flush_errs %d corruption_errs %d generation %d\n",
		le64(it.data, 0), le64(it.data, 8), le64(it.data, 16), le64(it.data, 24), le64(it.data, 32))
	if extra := len(it.data) - known; extra > 0 {
		fmt.Fprintf(b, "\t\tunknown stats item bytes %d", extra)
		for i := known / 8; (i+1)*8 <= len(it.data); i++ {
			fmt.Fprintf(b, "\t\tunknown item %d offset %d value %d\n", i, i*8, le64(it.data, i*8))
		}
	}
	return nil
}
