package transaction

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// ErrNoTree reports a tree id without a ROOT_ITEM; it matches ENOENT.
var ErrNoTree = fmt.Errorf("no such tree: %w", syscall.ENOENT)

// tree is one tree listed in the root tree: its open root and the
// ROOT_ITEM last written for it.
type tree struct {
	root    *ctree.Root
	key     format.Key
	item    format.RootItem
	legacy  bool // a 239-byte item: rewritten in that size
	created bool // created by the running transaction: the item is inserted at commit
}

// changed reports whether the root moved since the item was written.
func (t *tree) changed() bool {
	b, l, g := t.root.Info()
	return t.created || b != t.item.Bytenr || uint8(l) != t.item.Level || g != t.item.Generation
}

type treeSet struct {
	mu sync.Mutex
	m  map[uint64]*tree
}

func (s *treeSet) get(id uint64) (*tree, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[id]
	return t, ok
}

func (s *treeSet) put(id uint64, t *tree) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.m[id]; dup {
		return false
	}
	s.m[id] = t
	return true
}

// sorted returns the trees by id.
func (s *treeSet) sorted() []*tree {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*tree, 0, len(s.m))
	for _, t := range s.m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *tree) int { return a.key.Compare(b.key) })
	return out
}

// Tree returns the open root of tree id: the root tree (1), the chunk tree
// (3) or any tree with a ROOT_ITEM.
func (fs *FS) Tree(id uint64) (*ctree.Root, error) {
	switch id {
	case format.RootTreeObjectID:
		return fs.rootTree, nil
	case format.ChunkTreeObjectID:
		return fs.chunkTree, nil
	}
	if t, ok := fs.trees.get(id); ok {
		return t.root, nil
	}
	return nil, fmt.Errorf("tree %d: %w", id, ErrNoTree)
}

// TreeIDs lists the trees with a ROOT_ITEM, in key order.
func (fs *FS) TreeIDs() []uint64 {
	var ids []uint64
	for _, t := range fs.trees.sorted() {
		ids = append(ids, t.key.ObjectID)
	}
	return ids
}

// CreateTree creates tree id (an empty leaf) in h's transaction; its
// ROOT_ITEM is written at commit. A subvolume id (5, or 256 and up) gets
// the root item of a new subvolume (root dir 256, a directory inode
// template, uuid, times), as the kernel writes it; the caller adds the
// subvolume's root directory and its references.
func (fs *FS) CreateTree(h *Handle, id uint64) (*ctree.Root, error) {
	if err := h.usable(); err != nil {
		return nil, err
	}
	if id == format.RootTreeObjectID || id == format.ChunkTreeObjectID {
		return nil, fmt.Errorf("create tree %d: reserved id", id)
	}
	if _, ok := fs.trees.get(id); ok {
		return nil, fmt.Errorf("create tree %d: exists", id)
	}
	r, err := ctree.CreateRoot(h, fs.env, id)
	if err != nil {
		return nil, fmt.Errorf("create tree %d: %w", id, err)
	}
	t := &tree{root: r, key: format.Key{ObjectID: id, Type: format.RootItemKey}, created: true,
		item: newRootItem(id, h.Transid(), fs.NodeSize())}
	if !fs.trees.put(id, t) {
		r.Close()
		return nil, fmt.Errorf("create tree %d: created concurrently", id)
	}
	return r, nil
}

// newRootItem is the ROOT_ITEM of a new tree.
func newRootItem(id, transid uint64, nodesize uint32) format.RootItem {
	it := format.RootItem{Refs: 1, Generation: transid, GenerationV2: transid}
	if !format.IsSubvolumeID(id) {
		return it
	}
	now := time.Now()
	ts := format.Timespec{Sec: uint64(now.Unix()), Nsec: uint32(now.Nanosecond())}
	it.Inode = format.InodeItem{Generation: 1, Size: 3, Nlink: 1, Nbytes: uint64(nodesize), Mode: 0o40755}
	it.RootDirID = format.FirstFreeObjectID
	it.Ctransid, it.Otransid = transid, transid
	it.Ctime, it.Otime = ts, ts
	_, _ = rand.Read(it.UUID[:])
	return it
}

// updateRootItems writes the ROOT_ITEM of every tree whose root moved; it
// reports whether it wrote any (which COWed the root tree).
func (fs *FS) updateRootItems(h *Handle) (bool, error) {
	wrote := false
	for _, t := range fs.trees.sorted() {
		if !t.changed() {
			continue
		}
		b, l, g := t.root.Info()
		t.item.Bytenr, t.item.Level, t.item.Generation, t.item.GenerationV2 = b, uint8(l), g, g
		if err := fs.writeRootItem(h, t); err != nil {
			return wrote, fmt.Errorf("root item of tree %d: %w", t.key.ObjectID, err)
		}
		wrote = true
	}
	return wrote, nil
}

func (fs *FS) writeRootItem(h *Handle, t *tree) error {
	data := t.item.Encode()
	if t.legacy {
		data = t.item.EncodeLegacy()
	}
	if t.created {
		if err := ctree.InsertItem(h, fs.rootTree, t.key, data); err != nil {
			return err
		}
		t.created = false
		return nil
	}
	var p ctree.Path
	defer p.Release()
	found, err := ctree.SearchSlot(h, fs.rootTree, t.key, &p, 0, true)
	if err != nil {
		return err
	}
	if !found || len(p.ItemData()) != len(data) {
		return fmt.Errorf("%w: ROOT_ITEM %v missing or resized in the root tree", format.ErrCorrupt, t.key)
	}
	copy(p.ItemData(), data)
	return nil
}
