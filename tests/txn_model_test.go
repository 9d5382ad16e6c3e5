package tests

// The item model of the transaction workload: every item the workload
// wrote, per tree, as the bytes it wrote. A reopened image must hold
// exactly these items in the fs trees and these ROOT_REF/ROOT_BACKREF
// items in the root tree.

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"cowfs/ctree"
	"cowfs/disk/format"
)

// txnModel maps tree id → key → item data. Goroutines of a concurrent
// phase share it; each touches only its own keys.
type txnModel struct {
	mu    sync.Mutex
	trees map[uint64]map[format.Key][]byte
}

func newTxnModel() *txnModel {
	return &txnModel{trees: map[uint64]map[format.Key][]byte{}}
}

func (m *txnModel) get(tree uint64, k format.Key) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.trees[tree][k]
	return d, ok
}

// ensure makes tree known to the model, even without items.
func (m *txnModel) ensure(tree uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.trees[tree] == nil {
		m.trees[tree] = map[format.Key][]byte{}
	}
}

// set records a copy of data as the item at k.
func (m *txnModel) set(tree uint64, k format.Key, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.trees[tree] == nil {
		m.trees[tree] = map[format.Key][]byte{}
	}
	m.trees[tree][k] = bytes.Clone(data)
}

func (m *txnModel) del(tree uint64, k format.Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.trees[tree], k)
}

// keysOf returns the keys of objectid in tree, in key order.
func (m *txnModel) keysOf(tree, objectid uint64) []format.Key {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []format.Key
	for k := range m.trees[tree] {
		if k.ObjectID == objectid {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, format.Key.Compare)
	return out
}

// treeIDs lists the modelled trees.
func (m *txnModel) treeIDs() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []uint64
	for id := range m.trees {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// items returns a copy of tree's items.
func (m *txnModel) items(tree uint64) map[format.Key][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[format.Key][]byte, len(m.trees[tree]))
	for k, d := range m.trees[tree] {
		out[k] = d
	}
	return out
}

// ownRootTreeKey selects the root-tree items the model holds exactly.
func ownRootTreeKey(k format.Key) bool {
	return k.Type == format.RootRefKey || k.Type == format.RootBackrefKey
}

// diffTree compares the items of r selected by own with want and describes
// at most 10 differences.
func diffTree(r *ctree.Root, want map[format.Key][]byte, own func(format.Key) bool) ([]string, error) {
	var diffs []string
	note := func(f string, a ...any) {
		if len(diffs) < 10 {
			diffs = append(diffs, fmt.Sprintf("tree %d: ", r.ID)+fmt.Sprintf(f, a...))
		}
	}
	seen := map[format.Key]bool{}
	it := r.ScanFrom(format.Key{})
	for it.Next() {
		item := it.Item()
		if !own(item.Key) {
			continue
		}
		seen[item.Key] = true
		switch d, ok := want[item.Key]; {
		case !ok:
			note("unexpected item %v (%d bytes)", item.Key, len(item.Data))
		case !bytes.Equal(d, item.Data):
			note("item %v holds %d bytes %.40x…, model %d bytes %.40x…", item.Key, len(item.Data), item.Data, len(d), d)
		}
	}
	for k := range want {
		if own(k) && !seen[k] {
			note("missing item %v", k)
		}
	}
	return diffs, it.Err()
}

// scanInto records every item of r selected by own in the model.
func (m *txnModel) scanInto(r *ctree.Root, own func(format.Key) bool) error {
	it := r.ScanFrom(format.Key{})
	for it.Next() {
		if item := it.Item(); own(item.Key) {
			m.set(r.ID, item.Key, item.Data)
		}
	}
	return it.Err()
}

func allKeys(format.Key) bool { return true }
