package crash

import (
	"fmt"

	"cowfs/disk"
	"cowfs/fs"
)

// Env is what a workload runs against: the filesystem on the recorder, and
// the persistence points that record the model.
type Env struct {
	FS  *fs.FS
	rec *disk.RecordDevice
	// commits are the completed persistence points, in log order; the
	// first is the image as opened (entry -1).
	commits []commitPoint
	models  map[uint64]snapshot
	writes  int // patterns handed out so far
}

// commitPoint is a persistence point: the mark's log index and the
// generation it committed.
type commitPoint struct {
	entry int
	gen   uint64
}

// Mark records an operation boundary.
func (e *Env) Mark(label string) { e.rec.Mark(label) }

// Sync is a sync(2) persistence point.
func (e *Env) Sync(label string) error { return e.persist(label, e.FS.Sync) }

// Fsync is an fsync(2) persistence point of inode ino (a full commit
// today: docs/mount.md).
func (e *Env) Fsync(label string, ino uint64) error {
	return e.persist(label, func() error { return e.FS.Fsync(ino) })
}

// persist runs a persistence call, records the model of the generation it
// committed and marks its return.
func (e *Env) persist(label string, call func() error) error {
	if err := call(); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	if err := e.record(); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	e.commits[len(e.commits)-1].entry = e.rec.Len()
	e.rec.Mark(fmt.Sprintf("%s (generation %d)", label, e.commits[len(e.commits)-1].gen))
	return nil
}

// record snapshots the committed namespace under its generation. A
// generation already recorded must not have changed (a commit with
// nothing to write keeps it).
func (e *Env) record() error {
	gen := e.FS.Transaction().Super().Generation
	snap, err := takeSnapshot(e.FS)
	if err != nil {
		return fmt.Errorf("model of generation %d: %w", gen, err)
	}
	if prev, ok := e.models[gen]; ok {
		if d := diff(prev, snap); d != "" {
			return fmt.Errorf("generation %d changed without a commit: %s", gen, d)
		}
	}
	e.models[gen] = snap
	e.commits = append(e.commits, commitPoint{entry: -1, gen: gen})
	return nil
}

// minGen is the generation of the last persistence point whose return
// was marked at or before log entry i: a crash there must keep at least
// it.
func (e *Env) minGen(i int) uint64 {
	g := e.commits[0].gen
	for _, c := range e.commits[1:] {
		if c.entry > i {
			break
		}
		g = c.gen
	}
	return g
}
