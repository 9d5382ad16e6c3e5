package dump

import (
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// Item layouts format does not decode (quota and balance items, which cowfs
// never writes). Only their printed form matters here.
const (
	qgroupItemSize   = 5 * 8 // status: version, generation, flags, rescan (+ enable_gen); info; limit
	qgroupStatusSize = 4 * 8
	balanceArgsSize  = 136
	balanceItemSize  = 8 + 3*balanceArgsSize + 4*8
)

// Qgroup status flags.
const (
	qgroupStatusOn           = 1 << 0
	qgroupStatusRescan       = 1 << 1
	qgroupStatusInconsistent = 1 << 2
)

func qgroupStatus(b *strings.Builder, it item) error {
	if len(it.data) < qgroupStatusSize {
		return short("qgroup status", len(it.data), qgroupStatusSize)
	}
	flags := le64(it.data, 16)
	s := "OFF"
	if flags&qgroupStatusOn != 0 {
		s = "ON"
	}
	if flags&qgroupStatusRescan != 0 {
		s += "|SCANNING"
	}
	if flags&qgroupStatusInconsistent != 0 {
		s += "|INCONSISTENT"
	}
	fmt.Fprintf(b, "\t\tversion %d generation %d flags %s scan %d\n", le64(it.data, 0), le64(it.data, 8), s, le64(it.data, 24))
	return nil
}

func qgroupInfo(b *strings.Builder, it item) error {
	if len(it.data) < qgroupItemSize {
		return short("qgroup info", len(it.data), qgroupItemSize)
	}
	p := it.data
	fmt.Fprintf(b, "\t\tgeneration %d\n", le64(p, 0))
	fmt.Fprintf(b, "\t\treferenced %d referenced_compressed %d\n", le64(p, 8), le64(p, 16))
	fmt.Fprintf(b, "\t\texclusive %d exclusive_compressed %d\n", le64(p, 24), le64(p, 32))
	return nil
}

func qgroupLimit(b *strings.Builder, it item) error {
	if len(it.data) < qgroupItemSize {
		return short("qgroup limit", len(it.data), qgroupItemSize)
	}
	p := it.data
	fmt.Fprintf(b, "\t\tflags %x\n", le64(p, 0))
	fmt.Fprintf(b, "\t\tmax_referenced %d max_exclusive %d\n", int64(le64(p, 8)), int64(le64(p, 16)))
	fmt.Fprintf(b, "\t\trsv_referenced %d rsv_exclusive %d\n", int64(le64(p, 24)), int64(le64(p, 32)))
	return nil
}

func stringItem(b *strings.Builder, it item) error {
	fmt.Fprintf(b, "\t\titem data %s\n", cString(it.data))
	return nil
}

// temporaryItem prints TEMPORARY_ITEM; only BALANCE has a known body.
func temporaryItem(b *strings.Builder, it item) error {
	fmt.Fprintf(b, "\t\ttemporary item objectid %s offset %d\n", ObjectID(it.key.ObjectID, it.key.Type), it.key.Offset)
	if it.key.ObjectID != format.BalanceObjectID {
		fmt.Fprintf(b, "\t\tunknown temporary item objectid %d\n", it.key.ObjectID)
		return nil
	}
	if len(it.data) < balanceItemSize {
		return short("balance item", len(it.data), balanceItemSize)
	}
	fmt.Fprintf(b, "\t\tbalance status flags %d\n", le64(it.data, 0))
	for i, name := range []string{"DATA", "METADATA", "SYSTEM"} {
		fmt.Fprintf(b, "\t\t%s\n", name)
		balanceArgs(b, it.data[8+i*balanceArgsSize:])
	}
	return nil
}

// balanceArgs prints one btrfs_disk_balance_args (136 bytes).
func balanceArgs(b *strings.Builder, p []byte) {
	fmt.Fprintf(b, "\t\tprofiles %d devid %d target %d flags %d\n", le64(p, 0), le64(p, 16), le64(p, 56), le64(p, 64))
	fmt.Fprintf(b, "\t\tusage_min %d usage_max %d pstart %d pend %d\n", le32(p, 8), le32(p, 12), le64(p, 24), le64(p, 32))
	fmt.Fprintf(b, "\t\tvstart %d vend %d limit_min %d limit_max %d\n", le64(p, 40), le64(p, 48), le32(p, 72), le32(p, 76))
	fmt.Fprintf(b, "\t\tstripes_min %d stripes_max %d\n", le32(p, 80), le32(p, 84))
}
