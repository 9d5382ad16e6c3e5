package crash

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"cowfs/disk"
)

// Level is a family of crash states (docs/crash.md, "Levels").
type Level int

// Levels.
const (
	L0 Level = iota // at every flush, FUA write and mark: every completed write landed
	L1              // a prefix of the writes in flight at a flush or FUA landed
	L2              // a subset of them landed
	L3              // a prefix of them and a sector-granular tear of the next one
	NumLevels
)

func (l Level) String() string { return fmt.Sprintf("L%d", int(l)) }

// State is one crash state: power lost at log entry Point, with every
// durable write and the in-flight writes Apply (log indexes, in log order)
// on the device, then, if Tear >= 0, the first TearBytes of write Tear.
type State struct {
	Level     Level
	Point     int
	Apply     []int
	Tear      int
	TearBytes int
}

// ID names the state for reproducers and reports.
func (s State) ID() string {
	id := fmt.Sprintf("%s@%d:%v", s.Level, s.Point, s.Apply)
	if s.Tear >= 0 {
		id += fmt.Sprintf("+%d[:%d]", s.Tear, s.TearBytes)
	}
	return id
}

// CutOptions bound the states of each point.
type CutOptions struct {
	Levels     [NumLevels]bool
	Seed       uint64
	Exhaustive int // L2: every subset of up to this many in-flight writes
	Subsets    int // L2: random subsets sampled beyond that
	TearUnit   int // L3: the sector size a write tears at
	Tears      int // L3: tear points per write (every one if it has fewer)
}

// DefaultCutOptions: every level, subsets exhaustive up to 2^8, 64 sampled
// beyond, 512-byte sectors, 4 tears per write.
func DefaultCutOptions() CutOptions {
	return CutOptions{Levels: [NumLevels]bool{true, true, true, true}, Exhaustive: 8, Subsets: 64, TearUnit: 512, Tears: 4}
}

// cutter walks a recording and hands every crash state, built over the
// durable image of its point, to emit, which must be done with the device
// when it returns.
type cutter struct {
	log      []disk.RecEntry
	opts     CutOptions
	durable  *image
	inflight []int
	emit     func(State, *device) error
}

// cut enumerates the states of a recording of a zeroed device of size
// bytes; the first from entries (mkfs) all land before any crash.
func cut(size int64, log []disk.RecEntry, from int, opts CutOptions, emit func(State, *device) error) error {
	c := &cutter{log: log, opts: opts, durable: newImage(size, nil), emit: emit}
	for _, e := range log[:from] {
		if e.IsWrite() {
			c.durable.write(e.Data, e.Off)
		}
	}
	for i, e := range log[from:] {
		if err := c.entry(from+i, e); err != nil {
			return err
		}
	}
	return c.point(len(log), c.inflight)
}

// entry emits the states at entry i and advances the durable image.
func (c *cutter) entry(i int, e disk.RecEntry) error {
	switch e.Op {
	case disk.RecWrite:
		c.inflight = append(c.inflight, i)
	case disk.RecMark:
		return c.state(State{Level: L0, Point: i, Apply: c.inflight, Tear: -1})
	case disk.RecFlush:
		if err := c.point(i, c.inflight); err != nil {
			return err
		}
		c.land(c.inflight)
		c.inflight = nil
	case disk.RecFUA:
		if err := c.point(i, append(slices.Clip(c.inflight), i)); err != nil {
			return err
		}
		c.land([]int{i})
		c.inflight = slices.DeleteFunc(c.inflight, func(j int) bool { return covers(e, c.log[j]) })
	}
	return nil
}

// covers reports whether write a overwrites all of write b.
func covers(a, b disk.RecEntry) bool {
	return a.Off <= b.Off && b.Off+int64(len(b.Data)) <= a.Off+int64(len(a.Data))
}

// land makes writes durable.
func (c *cutter) land(writes []int) {
	for _, j := range writes {
		c.durable.write(c.log[j].Data, c.log[j].Off)
	}
}

// point emits the states of a crash at entry i with writes in flight.
func (c *cutter) point(i int, writes []int) error {
	if err := c.state(State{Level: L0, Point: i, Apply: writes, Tear: -1}); err != nil {
		return err
	}
	for _, gen := range []func(int, []int) error{c.prefixes, c.subsets, c.tears} {
		if err := gen(i, writes); err != nil {
			return err
		}
	}
	return nil
}

// state builds s's device and emits it, if its level is on.
func (c *cutter) state(s State) error {
	if !c.opts.Levels[s.Level] {
		return nil
	}
	d := newDevice(c.durable)
	for _, j := range s.Apply {
		d.im.write(c.log[j].Data, c.log[j].Off)
	}
	if s.Tear >= 0 {
		d.im.write(c.log[s.Tear].Data[:s.TearBytes], c.log[s.Tear].Off)
	}
	return c.emit(s, d)
}

// prefixes: L1, the first j writes landed, for j < len(writes).
func (c *cutter) prefixes(i int, writes []int) error {
	for j := range writes {
		if err := c.state(State{Level: L1, Point: i, Apply: writes[:j], Tear: -1}); err != nil {
			return err
		}
	}
	return nil
}

// rng is the seeded source of point i's samples.
func (c *cutter) rng(i int, salt uint64) *rand.Rand {
	return rand.New(rand.NewPCG(c.opts.Seed^salt*0x9e3779b97f4a7c15, uint64(i)))
}

// subsets: L2, every subset of the writes when there are few, else a sample.
func (c *cutter) subsets(i int, writes []int) error {
	if !c.opts.Levels[L2] || len(writes) < 2 {
		return nil
	}
	if len(writes) <= c.opts.Exhaustive {
		for m := range uint64(1) << len(writes) {
			if err := c.subset(i, writes, func(b int) bool { return m>>b&1 == 1 }); err != nil {
				return err
			}
		}
		return nil
	}
	r := c.rng(i, 2)
	for range c.opts.Subsets {
		if err := c.subset(i, writes, func(int) bool { return r.IntN(2) == 1 }); err != nil {
			return err
		}
	}
	return nil
}

// subset emits the L2 state of the writes keep chooses.
func (c *cutter) subset(i int, writes []int, keep func(int) bool) error {
	var apply []int
	for b, j := range writes {
		if keep(b) {
			apply = append(apply, j)
		}
	}
	return c.state(State{Level: L2, Point: i, Apply: apply, Tear: -1})
}

// tears: L3, the writes before j landed and write j tore after some
// sectors, for every write j.
func (c *cutter) tears(i int, writes []int) error {
	if !c.opts.Levels[L3] {
		return nil
	}
	for k, j := range writes {
		for _, n := range c.tearPoints(i, j) {
			if err := c.state(State{Level: L3, Point: i, Apply: writes[:k], Tear: j, TearBytes: n}); err != nil {
				return err
			}
		}
	}
	return nil
}

// tearPoints are the byte counts write j may tear after: every sector
// boundary inside it, or the first, the last and a seeded sample.
func (c *cutter) tearPoints(i, j int) []int {
	u := c.opts.TearUnit
	sectors := len(c.log[j].Data) / u
	if sectors < 2 {
		return nil
	}
	if sectors-1 <= c.opts.Tears {
		var out []int
		for s := 1; s < sectors; s++ {
			out = append(out, s*u)
		}
		return out
	}
	out := []int{u, (sectors - 1) * u}
	r := c.rng(i, uint64(j)+3)
	for len(out) < c.opts.Tears {
		out = append(out, (1+r.IntN(sectors-1))*u)
	}
	return out
}
