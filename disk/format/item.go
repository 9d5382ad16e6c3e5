package format

// Item is any decoded item payload; Encode gives its bytes back.
type Item interface{ Encode() []byte }

// ItemContext carries what item decoding needs beyond the key and bytes.
type ItemContext struct {
	CsumSize int    // for EXTENT_CSUM
	Owner    uint64 // tree the leaf belongs to
}

// DecodeItem decodes an item payload by key type. Types without a payload
// structure, or unknown types, decode as RawItem. It never panics.
func DecodeItem(k Key, b []byte, ctx ItemContext) (Item, error) {
	switch k.Type {
	case InodeItemKey:
		return wrap(DecodeInodeItem(b))
	case InodeRefKey:
		return wrap(DecodeInodeRefs(b))
	case InodeExtrefKey:
		return wrap(DecodeInodeExtrefs(b))
	case DirItemKey, DirIndexKey, XattrItemKey:
		return wrap(DecodeDirItem(b))
	case ExtentDataKey:
		return wrap(DecodeFileExtent(b))
	case ExtentCsumKey:
		return wrap(DecodeCsumItem(b, ctx.CsumSize))
	case RootItemKey:
		return decodeRootItemExact(b)
	case RootRefKey, RootBackrefKey:
		return wrap(DecodeRootRef(b))
	case ExtentItemKey, MetadataItemKey:
		return wrap(DecodeExtentItem(b, k.Type))
	case ExtentDataRefKey:
		return wrap(DecodeExtentDataRef(b))
	case SharedDataRefKey:
		return wrap(DecodeSharedDataRef(b))
	case BlockGroupItemKey:
		return wrap(DecodeBlockGroupItem(b))
	case ChunkItemKey:
		return wrap(DecodeChunkItem(b))
	case DevItemKey:
		return wrap(DecodeDevItem(b))
	case DevExtentKey:
		return wrap(DecodeDevExtent(b))
	case FreeSpaceInfoKey:
		return wrap(DecodeFreeSpaceInfo(b))
	case DirLogItemKey, DirLogIndexKey:
		return wrap(DecodeDirLogItem(b))
	case UUIDKeySubvol, UUIDKeyReceivedSubvol:
		return wrap(DecodeUUIDItem(b))
	case PersistentItemKey:
		if k.ObjectID == DevStatsObjectID {
			return wrap(DecodeDevStats(b))
		}
	}
	return RawItem(append([]byte(nil), b...)), nil
}

// wrap turns a typed (value, error) pair into (Item, error) without letting
// a typed nil pointer masquerade as a non-nil Item.
func wrap[T Item](v T, err error) (Item, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// legacyRootItem re-encodes to the 239-byte form it was decoded from.
type legacyRootItem struct{ *RootItem }

func (v legacyRootItem) Encode() []byte { return v.EncodeLegacy() }

func decodeRootItemExact(b []byte) (Item, error) {
	v, err := DecodeRootItem(b)
	if err != nil {
		return nil, err
	}
	if len(b) == RootItemLegacySize {
		return legacyRootItem{v}, nil
	}
	return v, nil
}
