package tests

// A worker of the transaction workload: it draws operations, runs a few of
// them per handle (Start with the kernel's item count for each), and
// checks every handle's reservation figures at End. The serial part of a
// transaction uses one worker on the whole namespace; a concurrent phase
// runs several, each confined to its own directory.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"cowfs/transaction"
)

// txnOpKind is an operation of the workload.
type txnOpKind int

const (
	opCreate txnOpKind = iota
	opMkdir
	opUnlink
	opSetXattr
	opReplaceXattr
	opRemoveXattr
	opSubvol
	opEvict // the eviction handles after an unlink (not drawn)
	numTxnOps
)

var txnOpNames = [numTxnOps]string{"create", "mkdir", "unlink", "setxattr", "replace-xattr", "remove-xattr", "subvol-create", "evict"}

// txnOpItems is the item count the kernel starts each operation's
// transaction with: create/mkdir 5 (inode, ref, two dir entries, parent);
// unlink 5 (__unlink_start_trans); xattr 2 (item and inode); subvolume 8
// (create_subvol); an eviction step 1.
var txnOpItems = [numTxnOps]int{5, 5, 5, 2, 2, 2, 8, 1}

// txnMix is how often each kind is drawn, and whether xattr values are
// mostly large.
type txnMix struct {
	weights   [numTxnOps]int
	bigValues bool
}

var (
	// mixDefault keeps the load about level.
	mixDefault = &txnMix{weights: [numTxnOps]int{22, 4, 14, 26, 14, 14, 2, 0}}
	// mixGrow creates more than it removes, so trees get deep.
	mixGrow = &txnMix{weights: [numTxnOps]int{24, 3, 10, 32, 12, 8, 2, 0}}
	// mixDrain removes far more than it adds.
	mixDrain = &txnMix{weights: [numTxnOps]int{4, 0, 40, 6, 6, 44, 0, 0}}
	// mixFill adds mostly large xattrs, so metadata outgrows the mkfs
	// chunk (new chunks mid-transaction) and reserves get tight.
	mixFill = &txnMix{weights: [numTxnOps]int{8, 1, 4, 60, 15, 8, 1, 0}, bigValues: true}
)

// txnLimits bound what the workload keeps alive, so a long run cycles
// instead of filling the image.
type txnLimits struct {
	files, dirs, subvols int
	xattrBytes           int
}

// txnLoad is what a worker has alive; a concurrent worker starts from a
// copy and the phase adds each worker's delta back.
type txnLoad struct {
	files, dirs, xattrBytes int
}

type txnWorker struct {
	fs       *transaction.FS
	m        *txnModel
	ns       *txnNamespace
	rng      *rand.Rand
	nodesize uint32
	limits   txnLimits
	mix      *txnMix
	load     txnLoad
	base     txnLoad // a concurrent worker's load when forked
	// scope, in a concurrent phase, is the one directory the worker
	// touches (with its files); inoNext..inoEnd its reserved inode numbers.
	scope            *txnInode
	subvols          bool // a concurrent worker that may create subvolumes
	inoNext, inoEnd  uint64
	newDirs          []*txnInode // mkdirs of a concurrent worker, merged after
	h                *transaction.Handle
	evict            []*txnInode
	ops              [numTxnOps]int
	worst            txnWorst
	packed, unpacked int // entries added to / cut from an item holding others
	handles          uint64
	reserved         uint64
	concurrentPhases int
}

// withHandle runs fn, which does what, in a new handle of items items and
// checks the handle's figures: reserved = InsertSize(items), nothing
// overspent.
func (w *txnWorker) withHandle(items int, what string, fn func() error) error {
	h, err := w.fs.Start(items)
	if err != nil {
		return fmt.Errorf("start a handle of %d items (%s): %w", items, what, err)
	}
	w.h = h
	ferr := fn()
	st := h.Stats()
	eerr := h.End()
	w.h = nil
	w.handles++
	w.reserved += st.Reserved
	w.noteCharge(st, what)
	if err := errors.Join(ferr, eerr); err != nil {
		return fmt.Errorf("handle of %d items (%s), %+v: %w", items, what, st, err)
	}
	if want := transaction.InsertSize(w.nodesize, items); st.Reserved != want || st.Charged > st.Reserved || st.Overspent != 0 {
		return fmt.Errorf("handle of %d items (%s): reserved %d (want %d), charged %d, overspent %d",
			items, what, st.Reserved, want, st.Charged, st.Overspent)
	}
	return nil
}

// txnWorst is the handle that charged the largest share of its reserve.
type txnWorst struct {
	ratio float64
	what  string
	stats transaction.HandleStats
}

func (w *txnWorker) noteCharge(st transaction.HandleStats, what string) {
	if st.Reserved == 0 {
		return
	}
	if r := float64(st.Charged) / float64(st.Reserved); r > w.worst.ratio {
		w.worst = txnWorst{ratio: r, what: what, stats: st}
	}
}

// batch runs n operations in one handle, then the evictions they left.
func (w *txnWorker) batch(n int) error {
	kinds := make([]txnOpKind, n)
	items := 0
	for i := range kinds {
		kinds[i] = w.draw()
		items += txnOpItems[kinds[i]]
	}
	err := w.withHandle(items, kindList(kinds), func() error {
		for _, k := range kinds {
			done, err := w.runOp(k)
			if err != nil {
				return fmt.Errorf("%s: %w", txnOpNames[k], err)
			}
			w.ops[done]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	return w.evictPending()
}

func kindList(kinds []txnOpKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = txnOpNames[k]
	}
	return strings.Join(names, "+")
}

// draw picks an operation kind, steering by the limits.
func (w *txnWorker) draw() txnOpKind {
	weights := &w.mix.weights
	total := 0
	for _, wt := range weights {
		total += wt
	}
	x := w.rng.IntN(total)
	k := txnOpKind(0)
	for ; x >= weights[k]; k++ {
		x -= weights[k]
	}
	switch {
	case k == opCreate && w.load.files >= w.limits.files:
		return opUnlink
	case k == opSetXattr && w.load.xattrBytes >= w.limits.xattrBytes:
		return opRemoveXattr
	case k == opSubvol && (!w.subvolsHere() || w.ns.subvolCount() >= w.limits.subvols):
		return opMkdir
	case k == opMkdir && w.load.dirs >= w.limits.dirs:
		return opCreate
	}
	return k
}

// runOp runs an operation of kind k, or a fallback needing no more items
// when k has no target (nothing to unlink, no xattr to change); it returns
// the kind it ran.
func (w *txnWorker) runOp(k txnOpKind) (txnOpKind, error) {
	switch k {
	case opCreate, opMkdir:
		return k, w.create(w.targetDir(), k == opMkdir)
	case opUnlink:
		if f := w.targetFile(); f != nil {
			return k, w.unlink(f)
		}
		return w.runOp(opCreate)
	case opSetXattr:
		return k, w.setXattr(w.xattrTarget(false))
	case opReplaceXattr, opRemoveXattr:
		if in := w.xattrTarget(true); in != nil {
			if k == opReplaceXattr {
				return k, w.replaceXattr(in)
			}
			return k, w.removeXattr(in)
		}
		return w.runOp(opSetXattr)
	case opSubvol:
		if w.scope != nil {
			return k, w.createSubvol(w.scope)
		}
		return k, w.createSubvol(w.subvolParent())
	}
	return k, fmt.Errorf("unknown operation %d", k)
}
