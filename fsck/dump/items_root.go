package dump

import (
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// rootItem prints a ROOT_ITEM. The uuid, transid and time lines exist only
// when generation_v2 matches generation (not in the legacy 239-byte form).
func rootItem(b *strings.Builder, it item) error {
	v, err := format.DecodeRootItem(it.data)
	if err != nil {
		return err
	}
	flags := "none"
	if v.Flags&format.RootSubvolRdonly != 0 {
		flags = "RDONLY"
	}
	fmt.Fprintf(b, "\t\tgeneration %d root_dirid %d bytenr %d byte_limit %d bytes_used %d\n",
		v.Generation, v.RootDirID, v.Bytenr, v.ByteLimit, v.BytesUsed)
	fmt.Fprintf(b, "\t\tlast_snapshot %d flags 0x%x(%s) refs %d\n", v.LastSnapshot, v.Flags, flags, v.Refs)
	fmt.Fprintf(b, "\t\tdrop_progress %s drop_level %d\n", Key(v.DropProgressKey()), v.DropLevel)
	fmt.Fprintf(b, "\t\tlevel %d generation_v2 %d\n", v.Level, v.GenerationV2)
	if v.Generation != v.GenerationV2 {
		return nil
	}
	fmt.Fprintf(b, "\t\tuuid %s\n", v.UUID)
	fmt.Fprintf(b, "\t\tparent_uuid %s\n", v.ParentUUID)
	fmt.Fprintf(b, "\t\treceived_uuid %s\n", v.ReceivedUUID)
	fmt.Fprintf(b, "\t\tctransid %d otransid %d stransid %d rtransid %d\n", v.Ctransid, v.Otransid, v.Stransid, v.Rtransid)
	timespec(b, "ctime", v.Ctime)
	timespec(b, "otime", v.Otime)
	timespec(b, "stime", v.Stime)
	timespec(b, "rtime", v.Rtime)
	return nil
}

// rootRef renders ROOT_REF ("ref") and ROOT_BACKREF ("backref").
func rootRef(tag string) itemFunc {
	return func(b *strings.Builder, it item) error {
		v, err := format.DecodeRootRef(it.data)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "\t\troot %s key dirid %d sequence %d name %s\n", tag, v.DirID, v.Sequence, cString(v.Name))
		return nil
	}
}

func uuidItem(b *strings.Builder, it item) error {
	if len(it.data)%8 != 0 {
		fmt.Fprintf(b, "btrfs: uuid item with illegal size %d!\n", len(it.data))
		return nil
	}
	for off := 0; off < len(it.data); off += 8 {
		fmt.Fprintf(b, "\t\tsubvol_id %d\n", le64(it.data, off))
	}
	return nil
}
