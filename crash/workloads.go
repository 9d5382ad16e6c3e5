package crash

import (
	"fmt"
	"slices"
)

// Workloads is every workload by name: the seq-1 set, data and seed.
func Workloads() []Workload {
	return append(Seq1(), Data(), Seed())
}

// FindWorkloads returns the workloads whose name is name or starts with
// name + "/" ("seq1" selects every seq-1 workload); "all" selects every one.
func FindWorkloads(name string) ([]Workload, error) {
	all := Workloads()
	if name == "all" {
		return all, nil
	}
	var out []Workload
	for _, w := range all {
		if w.Name == name || len(w.Name) > len(name) && w.Name[:len(name)+1] == name+"/" {
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("unknown workload %q (want all, seq1, seq1/OP/fsync|sync, data or seed)", name)
	}
	return out, nil
}

// WorkloadNames lists the workloads' names.
func WorkloadNames() []string {
	var out []string
	for _, w := range Workloads() {
		out = append(out, w.Name)
	}
	return slices.Clip(out)
}

// Data is the data-heavy workload: four 256 KiB files written in 64 KiB
// writes, each committed, then an overwrite, an append, a truncate and a
// punched hole, with an fsync and a sync.
func Data() Workload {
	return Workload{Name: "data", Run: func(e *Env) error {
		for i := range 4 {
			if err := e.dataFile(fmt.Sprintf("d%d", i)); err != nil {
				return err
			}
		}
		return e.dataEdits()
	}}
}

// dataFile writes one 256 KiB file and syncs.
func (e *Env) dataFile(name string) error {
	if _, err := e.create("", name); err != nil {
		return err
	}
	for off := uint64(0); off < 256<<10; off += 64 << 10 {
		if _, err := e.write(name, off, 64<<10); err != nil {
			return err
		}
	}
	return e.Sync("sync " + name)
}

// dataEdits changes the files in place and persists them.
func (e *Env) dataEdits() error {
	if _, err := e.write("d1", 4096, 8192); err != nil {
		return err
	}
	ino, err := e.write("d2", 256<<10, 10000)
	if err != nil {
		return err
	}
	if err := e.Fsync("fsync d2", ino); err != nil {
		return err
	}
	if _, err := e.truncate("d3", 100000); err != nil {
		return err
	}
	if _, err := e.fallocate("d0", 3, 8192, 65536); err != nil { // punch, keep size
		return err
	}
	return e.Sync("sync edits")
}

// Seed is the seed scenario (docs/problem.md) at crash-test scale: 300
// creates in one directory on a cache of 8 nodes, so reclaim writes
// blocks back inside the running transaction and searches COW them
// again; a sync every 100 creates.
func Seed() Workload {
	return Workload{Name: "seed", CacheNodes: 8, Run: func(e *Env) error {
		if _, err := e.mkdir("", "s"); err != nil {
			return err
		}
		for i := range 300 {
			if _, err := e.create("s", fmt.Sprintf("file-%04d", i)); err != nil {
				return err
			}
			if i%100 == 99 {
				if err := e.Sync(fmt.Sprintf("sync after %d creates", i+1)); err != nil {
					return err
				}
			}
		}
		return nil
	}}
}
