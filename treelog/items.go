package treelog

import (
	"errors"
	"fmt"

	"cowfs/ctree"
	"cowfs/disk/format"
	"cowfs/transaction"
)

// editItems is how many items one replay step may insert or change: a
// step runs in a handle of its own, reserved for that many.
const editItems = 8

// edit runs fn in a handle of its own.
func (r *replayer) edit(fn func(h *transaction.Handle) error) error {
	h, err := r.fs.Start(editItems)
	if err != nil {
		return err
	}
	return errors.Join(fn(h), h.End())
}

// lookup reads one item of the subvolume; ok is false when it is absent.
func (r *replayer) lookup(k format.Key) ([]byte, bool, error) {
	d, err := ctree.Lookup(r.sub, k)
	if errors.Is(err, ctree.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("subvolume %d: %v: %w", r.id, k, err)
	}
	return d, true, nil
}

// decoded reads the subvolume's item k through decode; absent, it is
// decode's zero value and ok is false.
func decoded[T any](r *replayer, k format.Key, decode func([]byte) (T, error)) (v T, ok bool, err error) {
	d, ok, err := r.lookup(k)
	if ok {
		v, err = decode(d)
	}
	if err != nil {
		return v, false, fmt.Errorf("%v: %w", k, err)
	}
	return v, ok, nil
}

// put writes the item k of the subvolume, replacing one that exists.
func (r *replayer) put(h *transaction.Handle, k format.Key, data []byte) error {
	if err := r.del(h, k); err != nil {
		return err
	}
	return ctree.InsertItem(h, r.sub, k, data)
}

// del deletes the item k of the subvolume if it exists.
func (r *replayer) del(h *transaction.Handle, k format.Key) error {
	err := ctree.DeleteItem(h, r.sub, k)
	if err != nil && !errors.Is(err, ctree.ErrNotFound) {
		return fmt.Errorf("subvolume %d: delete %v: %w", r.id, k, err)
	}
	return nil
}

// scan lists the items of one objectid and type.
func scan(root *ctree.Root, obj uint64, typ uint8) ([]ctree.Item, error) {
	return scanFrom(root, format.Key{ObjectID: obj, Type: typ})
}

// scanFrom lists the items from k to the end of k's objectid and type.
func scanFrom(root *ctree.Root, k format.Key) ([]ctree.Item, error) {
	var out []ctree.Item
	it := root.Scan(k, format.Key{ObjectID: k.ObjectID, Type: k.Type + 1})
	for it.Next() {
		out = append(out, it.Item())
	}
	return out, it.Err()
}
