package dump

import (
	"fmt"
	"strings"

	"cowfs/disk/format"
)

// item is one leaf item handed to a renderer.
type item struct {
	key  format.Key
	data []byte
	info BlockInfo
}

// itemFunc prints an item's body lines; an error means the bytes did not
// decode, and the caller prints it instead.
type itemFunc func(b *strings.Builder, it item) error

// itemFuncs maps key types to their renderers. Types missing here print no
// body, as in dump-tree (VERITY_*, DEV_REPLACE, QGROUP_RELATION, ...).
var itemFuncs = map[uint8]itemFunc{
	format.InodeItemKey:          inodeItem,
	format.InodeRefKey:           inodeRef,
	format.InodeExtrefKey:        inodeExtref,
	format.DirItemKey:            dirItem,
	format.DirIndexKey:           dirItem,
	format.XattrItemKey:          dirItem,
	format.DirLogItemKey:         dirLogItem,
	format.DirLogIndexKey:        dirLogItem,
	format.OrphanItemKey:         fixedLine("orphan item"),
	format.RootItemKey:           rootItem,
	format.RootRefKey:            rootRef("ref"),
	format.RootBackrefKey:        rootRef("backref"),
	format.ExtentItemKey:         extentItem,
	format.MetadataItemKey:       extentItem,
	format.TreeBlockRefKey:       fixedLine("tree block backref"),
	format.SharedBlockRefKey:     fixedLine("shared block backref"),
	format.ExtentDataRefKey:      extentDataRef,
	format.SharedDataRefKey:      sharedDataRef,
	extentRefV0Key:               fixedLine("extent ref v0 (deprecated)"),
	csumItemKey:                  fixedLine("csum item"),
	format.ExtentCsumKey:         extentCsum,
	format.ExtentDataKey:         fileExtent,
	format.BlockGroupItemKey:     blockGroupItem,
	format.FreeSpaceInfoKey:      freeSpaceInfo,
	format.FreeSpaceExtentKey:    fixedLine("free space extent"),
	format.FreeSpaceBitmapKey:    fixedLine("free space bitmap"),
	format.ChunkItemKey:          chunkItemBody,
	format.DevItemKey:            devItem,
	format.DevExtentKey:          devExtent,
	format.QgroupStatusKey:       qgroupStatus,
	format.QgroupInfoKey:         qgroupInfo,
	format.QgroupLimitKey:        qgroupLimit,
	format.UUIDKeySubvol:         uuidItem,
	format.UUIDKeyReceivedSubvol: uuidItem,
	format.StringItemKey:         stringItem,
	format.PersistentItemKey:     persistentItem,
	format.TemporaryItemKey:      temporaryItem,
}

// itemBody prints the body lines of one item.
func itemBody(b *strings.Builder, it item) {
	if it.key.Type == 0 && it.key.ObjectID == format.FreeSpaceObjectID {
		report(b, freeSpaceHeader(b, it))
	}
	if f, ok := itemFuncs[it.key.Type]; ok {
		report(b, f(b, it))
	}
}

// report prints a renderer's decoding error as the item's last line.
func report(b *strings.Builder, err error) {
	if err != nil {
		fmt.Fprintf(b, "\t\tinvalid item: %v\n", err)
	}
}

// fixedLine renders items whose body is one constant line.
func fixedLine(s string) itemFunc {
	return func(b *strings.Builder, _ item) error {
		fmt.Fprintf(b, "\t\t%s\n", s)
		return nil
	}
}

// short is the error for an item too small for its layout.
func short(what string, have, want int) error {
	return fmt.Errorf("%s of %d bytes, need %d", what, have, want)
}

// cstr is how dump-tree prints names and xattr values: at most 255 bytes,
// cut at the first NUL.
func cstr(p []byte) []byte {
	if len(p) > format.NameMax {
		p = p[:format.NameMax]
	}
	return cString(p)
}
