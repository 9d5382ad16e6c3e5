package transaction

// Running delayed references: applying the net reference changes of a
// transaction (alloc.RefHead) to the extent tree. See docs/delayed-refs.md.
//
// One head at a time: read the extent's item and keyed backrefs (a range
// scan), apply every reference change in memory, then write the difference
// back with ctree edits under the transaction handle. Those edits COW
// extent-tree blocks, which queues more references: the commit calls the
// runner again until the queue is empty. The runner applies only the heads
// it is given.
//
// What is written is what the kernel writes (skinny metadata, mixed
// backrefs, measured on kernel-written images):
//
//   - a tree block: METADATA_ITEM (bytenr, 169, level) = refs 1, generation,
//     TREE_BLOCK, one inline TREE_BLOCK_REF(owner);
//   - a data extent: EXTENT_ITEM (bytenr, 168, length) = refs Σ counts,
//     generation, DATA, then inline EXTENT_DATA_REFs ordered by
//     ExtentDataRefHash descending, while the item stays below
//     maxExtentItemSize; other refs are keyed items (bytenr, 178, hash),
//     the key offset moved up past hash collisions. A new reference goes
//     inline only when the extent has no keyed backref at all.
//
// Items written by the kernel may hold SHARED_BLOCK_REF, SHARED_DATA_REF or
// EXTENT_OWNER_REF backrefs (and non-skinny EXTENT_ITEMs): they are kept
// byte for byte; only the backrefs named by a head change.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"cowfs/alloc"
	"cowfs/checker"
	"cowfs/ctree"
	"cowfs/disk/format"
)

// extentAccounting is told about extent items appearing and disappearing
// so that space counters stay exact.
type extentAccounting interface {
	ExtentInserted(bytenr, numBytes uint64, data bool) // reserved -> used
	ExtentDeleted(bytenr, numBytes uint64, data bool)  // used -> pinned (until commit)
}

// ruleDelayedRef is btrfs-format.md #42: running a delayed reference needs
// the extent item and the exact backref it changes. Content contradicting a
// delayed reference — the extent item or the backref a drop needs is
// missing, a count would go below zero, the item is not the extent the head
// describes — is a *checker.Error of KindExtentRef with this rule; the
// kernel aborts the transaction with EUCLEAN here. It prints in the
// tree-checker's form, e.g.
//
//	corrupt extent tree: bytenr=5505024 root=5 level=0, unable to find ref
//
// and errors.Is(err, format.ErrCorrupt) holds.
const ruleDelayedRef = 42

// maxExtentItemSize is the kernel's bound on an extent item with inline
// refs: a new inline ref is added only while the item stays strictly below
// it, (leaf data size / 16) - item header = 992 bytes for 16 KiB nodes (33
// data refs inline, 981 bytes) and 224 for 4 KiB nodes (6 inline, 198
// bytes). Measured on kernel 6.18 images (docs/delayed-refs.md).
func maxExtentItemSize(nodesize uint32) int {
	return int(format.LeafDataSize(nodesize)>>4) - format.ItemHeaderSize
}

// runRefHeads applies heads to the extent tree extent within the
// transaction handle trans: creating, updating and deleting extent items
// and backrefs, and telling acct about every extent item inserted or
// deleted. transid is the generation of new extent items. It stops at the
// first error, which the transaction must treat as fatal (abort): the head
// it failed on may be half written.
func runRefHeads(trans ctree.Trans, extent *ctree.Root, acct extentAccounting, heads []*alloc.RefHead, transid uint64) error {
	for _, h := range heads {
		if err := runRefHead(trans, extent, acct, h, transid); err != nil {
			if re, ok := errors.AsType[*checker.Error](err); ok && re.Kind == checker.KindExtentRef {
				return fmt.Errorf("run delayed refs: %w", err)
			}
			return fmt.Errorf("run delayed refs: bytenr %d: %w", h.Bytenr, err)
		}
	}
	return nil
}

func runRefHead(trans ctree.Trans, extent *ctree.Root, acct extentAccounting, h *alloc.RefHead, transid uint64) error {
	env := extent.Env()
	if err := checkHead(h, env.Cache.NodeSize()); err != nil {
		return err
	}
	s, err := loadExtent(extent, h)
	if err != nil {
		return err
	}
	s.limit, s.transid = maxExtentItemSize(env.Cache.NodeSize()), transid
	s.skinny = env.Ctx.Incompat&format.IncompatSkinnyMetadata != 0
	// Adds first, as the kernel runs them: a count never drops to zero
	// (deleting the item) while references to add are still pending.
	for _, adds := range []bool{true, false} {
		for _, r := range h.Refs {
			if (r.Delta > 0) == adds && r.Delta != 0 {
				if err := s.apply(r); err != nil {
					return err
				}
			}
		}
	}
	if err := s.finish(); err != nil {
		return err
	}
	return s.store(trans, extent, acct)
}

// checkHead rejects heads the runner cannot apply (caller errors).
func checkHead(h *alloc.RefHead, nodesize uint32) error {
	switch {
	case h.Data && h.NumBytes == 0:
		return fmt.Errorf("invalid delayed ref head: data extent of 0 bytes")
	case !h.Data && h.NumBytes != uint64(nodesize):
		return fmt.Errorf("invalid delayed ref head: tree block of %d bytes, nodesize %d", h.NumBytes, nodesize)
	case !h.Data && (h.Level < 0 || h.Level >= format.MaxLevel):
		return fmt.Errorf("invalid delayed ref head: tree block level %d", h.Level)
	}
	return nil
}

// extentState is one extent as the extent tree holds it: read before its
// head is applied, then edited in memory, then stored.
type extentState struct {
	head    *alloc.RefHead
	limit   int    // maxExtentItemSize
	transid uint64 // generation of a new extent item
	skinny  bool   // SKINNY_METADATA: tree blocks get METADATA_ITEMs

	key   format.Key         // the extent item's key (once found or created)
	found bool               // the item is in the tree
	raw   []byte             // its bytes as read
	item  *format.ExtentItem // nil: no extent item (yet)
	// keyed are the items after the extent item with its bytenr (keyed
	// backrefs, in key order as read), then the keyed refs added.
	keyed []*keyedRef
}

// keyedRef is one item keyed (bytenr, type, offset) after the extent item.
type keyedRef struct {
	key  format.Key
	raw  []byte
	read bool                 // in the tree (else new)
	data format.ExtentDataRef // EXTENT_DATA_REF: the ref, with its current count
	gone bool                 // dropped to zero: to be deleted
}

// isBackref reports whether the item is a backref holding references.
func (k *keyedRef) isBackref() bool {
	switch k.key.Type {
	case format.TreeBlockRefKey, format.SharedBlockRefKey, format.ExtentDataRefKey, format.SharedDataRefKey:
		return true
	}
	return false
}

// fault is the corruption error about the head's extent, located at ref r
// if given: a tree backref by its root and the block's level, a data
// backref by its root and the file extent key it stands for.
func (s *extentState) fault(r *alloc.RefDelta, reason string, args ...any) *checker.Error {
	h := s.head
	e := &checker.Error{Rule: ruleDelayedRef, Kind: checker.KindExtentRef, Block: h.Bytenr, Level: h.Level, Slot: -1,
		Reason: fmt.Sprintf(reason, args...)}
	if r != nil {
		e.Root = r.Root
		if h.Data {
			e.Key = &format.Key{ObjectID: r.Objectid, Type: format.ExtentDataKey, Offset: r.Offset}
		}
	}
	return e
}

// loadExtent reads the extent item of h's extent and the items keyed after
// it (types up to SHARED_DATA_REF), and checks the item is the extent h
// describes.
func loadExtent(extent *ctree.Root, h *alloc.RefHead) (*extentState, error) {
	s := &extentState{head: h}
	it := extent.Scan(format.Key{ObjectID: h.Bytenr, Type: format.ExtentItemKey},
		format.Key{ObjectID: h.Bytenr, Type: format.SharedDataRefKey + 1})
	for it.Next() {
		item := it.Item()
		switch item.Key.Type {
		case format.ExtentItemKey, format.MetadataItemKey:
			if s.found {
				return nil, s.fault(nil, "two extent items").WithHE(item.Key, s.key)
			}
			s.found, s.key, s.raw = true, item.Key, item.Data
			continue
		}
		k := &keyedRef{key: item.Key, raw: item.Data, read: true}
		if k.key.Type == format.ExtentDataRefKey {
			d, err := format.DecodeExtentDataRef(item.Data)
			if err != nil {
				e := s.fault(nil, "bad keyed data backref at offset %d", k.key.Offset)
				e.Err = err
				return nil, e
			}
			k.data = *d
		}
		s.keyed = append(s.keyed, k)
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if !s.found {
		if len(s.keyed) > 0 {
			return nil, s.fault(nil, "backref items without an extent item").WithHE(s.keyed[0].key, "none")
		}
		return s, nil
	}
	return s, s.decode()
}

// decode decodes the extent item read and checks it describes h's extent.
func (s *extentState) decode() error {
	h := s.head
	item, err := format.DecodeExtentItem(s.raw, s.key.Type)
	if err == nil && !bytes.Equal(item.Encode(), s.raw) {
		err = errors.New("item does not re-encode to its bytes")
	}
	if err != nil {
		e := s.fault(nil, "bad extent item %v", s.key)
		e.Err = err
		return e
	}
	s.item = item
	kind, length, level := item.Flags&format.ExtentFlagData != 0, s.key.Offset, int(item.TreeBlockLevel)
	if s.key.Type == format.MetadataItemKey {
		kind, length, level = false, h.NumBytes, int(s.key.Offset)
	} else if item.Flags&format.ExtentFlagTreeBlock == 0 {
		level = h.Level
	}
	switch {
	case kind != h.Data || item.Flags&(format.ExtentFlagData|format.ExtentFlagTreeBlock) == 0:
		return s.fault(nil, "extent kind mismatch").WithHE(fmt.Sprintf("%v flags 0x%x", s.key, item.Flags), kindName(h.Data))
	case length != h.NumBytes:
		return s.fault(nil, "extent length mismatch").WithHE(length, h.NumBytes)
	case !h.Data && level != h.Level:
		return s.fault(nil, "tree block level mismatch").WithHE(level, h.Level)
	}
	return nil
}

func kindName(data bool) string {
	if data {
		return "data extent"
	}
	return "tree block"
}

// apply applies one reference change in memory.
func (s *extentState) apply(r alloc.RefDelta) error {
	var err error
	switch {
	case s.item == nil && r.Delta < 0:
		return s.fault(&r, "unable to find ref, no extent item")
	case s.item == nil:
		err = s.create(r)
	case s.head.Data:
		err = s.changeData(r)
	default:
		err = s.changeTree(r)
	}
	if err != nil {
		return err
	}
	if r.Delta < 0 && s.item.Refs < uint64(-r.Delta) {
		return s.fault(&r, "extent refs underflow").WithHE(s.item.Refs, fmt.Sprintf(">= %d", -r.Delta))
	}
	s.item.Refs += uint64(r.Delta) // two's complement: a drop subtracts
	return nil
}

// create makes the extent item for the head's first reference, r.
func (s *extentState) create(r alloc.RefDelta) error {
	h := s.head
	if h.Data {
		s.key = format.Key{ObjectID: h.Bytenr, Type: format.ExtentItemKey, Offset: h.NumBytes}
		s.item = &format.ExtentItem{Generation: s.transid, Flags: format.ExtentFlagData}
		return s.changeData(r)
	}
	switch {
	case r.Delta != 1:
		return fmt.Errorf("%d references to new tree block (root %d): %w", r.Delta, r.Root, errors.ErrUnsupported)
	case !s.skinny:
		return fmt.Errorf("tree block extent items without SKINNY_METADATA: %w", errors.ErrUnsupported)
	}
	s.key = format.Key{ObjectID: h.Bytenr, Type: format.MetadataItemKey, Offset: uint64(h.Level)}
	s.item = &format.ExtentItem{Generation: s.transid, Flags: format.ExtentFlagTreeBlock,
		Inline: []format.InlineRef{{Type: format.TreeBlockRefKey, Offset: r.Root}}}
	return nil
}

// changeTree applies r to an existing tree block: only a drop of its one
// TREE_BLOCK_REF(root), inline or keyed, is supported.
func (s *extentState) changeTree(r alloc.RefDelta) error {
	switch {
	case r.Delta > 0:
		return fmt.Errorf("second reference to tree block (root %d; blocks shared between trees need snapshots): %w",
			r.Root, errors.ErrUnsupported)
	case r.Delta != -1:
		return s.fault(&r, "tree backref count underflow").WithHE(1, -r.Delta)
	}
	for i, ref := range s.item.Inline {
		if ref.Type == format.TreeBlockRefKey && ref.Offset == r.Root {
			s.item.Inline = slices.Delete(s.item.Inline, i, i+1)
			return nil
		}
	}
	if k := s.findKeyed(format.TreeBlockRefKey, r.Root); k != nil {
		k.gone = true
		return nil
	}
	return s.fault(&r, "unable to find ref")
}

// findKeyed returns the live keyed item (typ, offset), or nil.
func (s *extentState) findKeyed(typ uint8, offset uint64) *keyedRef {
	for _, k := range s.keyed {
		if !k.gone && k.key.Type == typ && k.key.Offset == offset {
			return k
		}
	}
	return nil
}

// changeData applies r to the data backref (root, objectid, offset): its
// count changes in place, inline or keyed; at zero it is removed; a new one
// goes inline when it fits and the extent has no keyed item, else keyed.
func (s *extentState) changeData(r alloc.RefDelta) error {
	want := format.ExtentDataRef{Root: r.Root, ObjectID: r.Objectid, Offset: r.Offset}
	var count *uint32
	inline := -1
	for i := range s.item.Inline {
		if ref := &s.item.Inline[i]; ref.Type == format.ExtentDataRefKey && sameDataRef(ref.Data, want) {
			count, inline = &ref.Data.Count, i
			break
		}
	}
	var keyed *keyedRef
	if count == nil {
		keyed = s.findDataKeyed(want)
		if keyed != nil {
			count = &keyed.data.Count
		}
	}
	if count == nil {
		if r.Delta < 0 {
			return s.fault(&r, "unable to find ref")
		}
		c, err := s.newCount(r, 0)
		if err != nil {
			return err
		}
		want.Count = c
		s.addDataRef(want)
		return nil
	}
	c, err := s.newCount(r, *count)
	if err != nil {
		return err
	}
	*count = c
	if c == 0 && inline >= 0 {
		s.item.Inline = slices.Delete(s.item.Inline, inline, inline+1)
	} else if c == 0 {
		keyed.gone = true
	}
	return nil
}

func sameDataRef(a, b format.ExtentDataRef) bool {
	return a.Root == b.Root && a.ObjectID == b.ObjectID && a.Offset == b.Offset
}

// newCount is a backref's count after r, checked for under- and overflow.
func (s *extentState) newCount(r alloc.RefDelta, old uint32) (uint32, error) {
	c := int64(old) + r.Delta
	switch {
	case c < 0:
		return 0, s.fault(&r, "data backref count underflow").WithHE(old, fmt.Sprintf(">= %d", -r.Delta))
	case c > int64(^uint32(0)):
		return 0, fmt.Errorf("data backref (root %d objectid %d offset %d): count %d overflows u32",
			r.Root, r.Objectid, r.Offset, c)
	}
	return uint32(c), nil
}

// findDataKeyed returns the live keyed EXTENT_DATA_REF for ref, or nil.
// (Its key offset is the ref's hash, or above it after a collision.)
func (s *extentState) findDataKeyed(ref format.ExtentDataRef) *keyedRef {
	for _, k := range s.keyed {
		if !k.gone && k.key.Type == format.ExtentDataRefKey && sameDataRef(k.data, ref) {
			return k
		}
	}
	return nil
}

// addDataRef adds a new data backref: inline, in its place, when the item
// stays below the size limit and the extent has no keyed item (the kernel's
// rule: a ref is never added inline beside keyed ones); else as a keyed
// item at the first free key offset from its hash up.
func (s *extentState) addDataRef(ref format.ExtentDataRef) {
	ir := format.InlineRef{Type: format.ExtentDataRefKey, Data: ref}
	if !s.hasKeyed() && inlineSize(s.item)+format.InlineRefSize(ir.Type) < s.limit {
		s.item.Inline = insertInline(s.item.Inline, ir)
		return
	}
	off := ref.Hash()
	for s.findKeyed(format.ExtentDataRefKey, off) != nil {
		off++
	}
	s.keyed = append(s.keyed, &keyedRef{data: ref,
		key: format.Key{ObjectID: s.head.Bytenr, Type: format.ExtentDataRefKey, Offset: off}})
}

// hasKeyed reports whether any item besides the extent item is keyed with
// its bytenr.
func (s *extentState) hasKeyed() bool {
	for _, k := range s.keyed {
		if !k.gone {
			return true
		}
	}
	return false
}

// inlineSize is the encoded size of an extent item.
func inlineSize(item *format.ExtentItem) int {
	n := format.ExtentItemHeaderSize
	if item.HasTreeBlockInfo {
		n += format.TreeBlockInfoSize
	}
	for _, r := range item.Inline {
		n += format.InlineRefSize(r.Type)
	}
	return n
}

// insertInline inserts ref in the order the tree checker requires: types
// ascending, and within a type sequences descending; after the refs of
// equal type and sequence (a hash collision), as the kernel does.
func insertInline(refs []format.InlineRef, ref format.InlineRef) []format.InlineRef {
	seq := ref.Seq()
	i := 0
	for i < len(refs) && (refs[i].Type < ref.Type || (refs[i].Type == ref.Type && refs[i].Seq() >= seq)) {
		i++
	}
	return slices.Insert(refs, i, ref)
}

// finish checks the result: an extent left without references must have
// no backref left either.
func (s *extentState) finish() error {
	if s.item == nil || s.item.Refs > 0 {
		return nil
	}
	left := 0
	for _, r := range s.item.Inline {
		if r.Type != format.ExtentOwnerRefKey {
			left++
		}
	}
	for _, k := range s.keyed {
		if !k.gone && k.isBackref() {
			left++
		}
	}
	if left > 0 {
		return s.fault(nil, "extent refs 0 with backrefs left").WithHE(left, 0)
	}
	return nil
}

// store writes the difference between the extent as read and as edited:
// deletions first, then changed items, then new ones; an extent left
// without references loses its item and its keyed backrefs.
func (s *extentState) store(trans ctree.Trans, extent *ctree.Root, acct extentAccounting) error {
	h := s.head
	for _, k := range s.keyed {
		if k.read && k.gone {
			if err := ctree.DeleteItem(trans, extent, k.key); err != nil {
				return err
			}
		}
	}
	if s.item.Refs == 0 {
		if !s.found {
			return nil
		}
		if err := ctree.DeleteItem(trans, extent, s.key); err != nil {
			return err
		}
		acct.ExtentDeleted(h.Bytenr, h.NumBytes, h.Data)
		return nil
	}
	data := s.item.Encode()
	if !s.found {
		if err := ctree.InsertItem(trans, extent, s.key, data); err != nil {
			return err
		}
		acct.ExtentInserted(h.Bytenr, h.NumBytes, h.Data)
	} else if !bytes.Equal(data, s.raw) {
		if err := rewriteItem(trans, extent, s.key, len(s.raw), data); err != nil {
			return err
		}
	}
	return s.storeKeyed(trans, extent)
}

// storeKeyed rewrites the keyed data backrefs whose count changed and
// inserts the new ones.
func (s *extentState) storeKeyed(trans ctree.Trans, extent *ctree.Root) error {
	for _, k := range s.keyed {
		if k.gone || k.key.Type != format.ExtentDataRefKey {
			continue
		}
		data := k.data.Encode()
		var err error
		switch {
		case !k.read:
			err = ctree.InsertItem(trans, extent, k.key, data)
		case !bytes.Equal(data, k.raw):
			err = rewriteItem(trans, extent, k.key, len(k.raw), data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// rewriteItem replaces the data of the item with key, oldSize bytes long,
// by data: resized in place (ctree keeps its start), then overwritten.
func rewriteItem(trans ctree.Trans, root *ctree.Root, key format.Key, oldSize int, data []byte) error {
	var p ctree.Path
	defer p.Release()
	var err error
	switch n := len(data); {
	case n > oldSize:
		err = ctree.ExtendItem(trans, root, &p, key, uint32(n-oldSize))
	case n < oldSize:
		err = ctree.TruncateItem(trans, root, &p, key, uint32(n))
	default:
		var found bool
		found, err = ctree.SearchSlot(trans, root, key, &p, 0, true)
		if err == nil && !found {
			err = fmt.Errorf("%w: %v", ctree.ErrNotFound, key)
		}
	}
	if err != nil {
		return err
	}
	dst := p.ItemData()
	if len(dst) != len(data) {
		return fmt.Errorf("item %v is %d bytes, expected %d", key, len(dst), len(data))
	}
	copy(dst, data)
	return nil
}
