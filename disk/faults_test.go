package disk

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

const faultDevSize = 1 << 20

func newFaultMem() (*FaultDevice, *MemDevice) {
	mem := NewMemDevice(faultDevSize)
	return NewFaultDevice(mem), mem
}

// fill returns n bytes of value v.
func fill(v byte, n int) []byte { return bytes.Repeat([]byte{v}, n) }

// requireInjected checks that err is an injected failure and returns it.
func requireInjected(t *testing.T, err error) *FaultError {
	t.Helper()
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, err, ErrInjected)
	fe, ok := errors.AsType[*FaultError](err)
	require.True(t, ok, "%v is not a *FaultError", err)
	return fe
}

func TestFaultNthWriteOfKind(t *testing.T) {
	f, mem := newFaultMem()
	id := f.Arm(FaultRule{Ops: OpWrites, Kinds: []Kind{KindMeta}, Skip: 2, Count: 1})
	require.NoError(t, f.WriteAt(fill(1, 4096), 0, KindData), "data is not counted")
	require.NoError(t, f.WriteAt(fill(2, 4096), 4096, KindMeta))
	require.NoError(t, f.WriteDurable(fill(3, 4096), 8192, KindMeta))
	err := f.WriteAt(fill(4, 16384), 16384, KindMeta)
	fe := requireInjected(t, err)
	require.Equal(t, FaultError{Op: OpWrite, Off: 16384, Len: 16384, Kind: KindMeta, Rule: id}, *fe)
	require.EqualError(t, err, "injected fault: write 16384 bytes at 16384 (metadata, rule 1): input/output error")
	require.Equal(t, make([]byte, 16384), mem.Bytes()[16384:32768], "nothing reached the device")
	require.NoError(t, f.WriteAt(fill(5, 4096), 16384, KindMeta), "only the third fails")

	require.Equal(t, uint64(1), f.Fired(id))
	require.Equal(t, FaultStats{Writes: 1}, f.Faults())
	require.Equal(t, uint64(1), f.Faults().Total())
	s := f.Stats()
	require.Equal(t, uint64(3), s.WriteOps[KindMeta], "the inner device's counters: what reached it")
}

func TestFaultEveryWriteAfterN(t *testing.T) {
	f, _ := newFaultMem()
	id := f.Arm(FaultRule{Ops: OpWrites, Skip: 3})
	for i := range 10 {
		err := f.WriteAt(fill(1, 512), int64(i)*512, Kind(i%3))
		if i < 3 {
			require.NoError(t, err, "write %d", i)
		} else {
			requireInjected(t, err)
		}
	}
	require.Equal(t, uint64(7), f.Fired(id))
	require.True(t, f.Disarm(id))
	require.False(t, f.Disarm(id), "already disarmed")
	require.NoError(t, f.WriteAt(fill(1, 512), 0, KindMeta))
	require.Equal(t, uint64(7), f.Fired(id), "kept after Disarm")
}

func TestFaultWriteRange(t *testing.T) {
	f, mem := newFaultMem()
	f.Arm(FaultRule{Ops: OpWrites, Off: 8192, Len: 4096})
	require.NoError(t, f.WriteAt(fill(1, 8192), 0, KindMeta), "ends where the range starts")
	require.NoError(t, f.WriteAt(fill(1, 4096), 12288, KindMeta), "starts where it ends")
	for _, w := range []struct {
		off int64
		n   int
	}{{8192, 4096}, {4096, 8192}, {12287, 1}, {0, 65536}, {9000, 10}} {
		fe := requireInjected(t, f.WriteAt(fill(2, w.n), w.off, KindData))
		require.Equal(t, w.off, fe.Off)
		require.Equal(t, w.n, fe.Len)
	}
	requireInjected(t, f.WriteDurable(fill(2, 4096), 8192, KindSuper))
	require.Equal(t, fill(0, 4096), mem.Bytes()[8192:12288])
	require.NoError(t, f.ReadAt(make([]byte, 4096), 8192, KindMeta), "reads are not in Ops")
	require.NoError(t, f.Flush(), "nor flushes")
}

func TestFaultReadRange(t *testing.T) {
	f, _ := newFaultMem()
	require.NoError(t, f.WriteAt(fill(7, 8192), 65536, KindSuper))
	id := f.Arm(FaultRule{Ops: OpRead, Kinds: []Kind{KindSuper}, Off: 65536, Len: 4096})
	buf := make([]byte, 4096)
	err := f.ReadAt(buf, 65536, KindSuper)
	requireInjected(t, err)
	require.EqualError(t, err, "injected fault: read 4096 bytes at 65536 (super, rule 1): input/output error")
	require.Equal(t, fill(0, 4096), buf, "nothing was read")
	require.NoError(t, f.ReadAt(buf, 65536, KindMeta), "another kind")
	require.NoError(t, f.ReadAt(buf, 65536+4096, KindSuper), "outside the range")
	require.Equal(t, fill(7, 4096), buf)
	require.NoError(t, f.WriteAt(fill(8, 4096), 65536, KindSuper), "writes are not in Ops")
	require.Equal(t, FaultStats{Reads: 1}, f.Faults())
	require.Equal(t, uint64(1), f.Fired(id))
}

func TestFaultFlushAndDurable(t *testing.T) {
	f, mem := newFaultMem()
	flush := f.Arm(FaultRule{Ops: OpFlush, Kinds: []Kind{KindData}, Off: 4096, Len: 1})
	err := f.Flush()
	requireInjected(t, err)
	require.EqualError(t, err, "injected fault: flush (rule 1): input/output error",
		"a flush has no kind or range to be filtered by")
	require.NoError(t, f.WriteDurable(fill(1, 4096), 0, KindSuper), "WriteDurable is not a Flush")
	require.Equal(t, uint64(1), mem.Stats().Flushes, "the durable write's own flush")
	f.Disarm(flush)
	require.NoError(t, f.Flush())

	f.Arm(FaultRule{Ops: OpDurable, Count: 1})
	err = f.WriteDurable(fill(2, 4096), 65536, KindSuper)
	requireInjected(t, err)
	require.EqualError(t, err, "injected fault: write-durable 4096 bytes at 65536 (super, rule 2): input/output error")
	require.Equal(t, fill(0, 4096), mem.Bytes()[65536:65536+4096])
	require.NoError(t, f.WriteAt(fill(2, 4096), 65536, KindSuper), "WriteAt is not a WriteDurable")
	require.NoError(t, f.WriteDurable(fill(2, 4096), 65536, KindSuper), "Count 1: only once")
	require.Equal(t, FaultStats{Durables: 1, Flushes: 1}, f.Faults())
}

func TestFaultTornWrite(t *testing.T) {
	f, mem := newFaultMem()
	f.Arm(FaultRule{Ops: OpWrites, Count: 1, Torn: 4096})
	err := f.WriteAt(fill(9, 16384), 32768, KindMeta)
	fe := requireInjected(t, err)
	require.Equal(t, 4096, fe.Torn)
	require.EqualError(t, err, "injected fault: write 16384 bytes at 32768 (metadata, rule 1, torn after 4096 bytes): input/output error")
	require.Equal(t, fill(9, 4096), mem.Bytes()[32768:32768+4096], "the prefix reached the device")
	require.Equal(t, fill(0, 12288), mem.Bytes()[32768+4096:49152], "the rest did not")

	f.Arm(FaultRule{Ops: OpDurable, Count: 1, Torn: 1 << 20})
	fe = requireInjected(t, f.WriteDurable(fill(3, 512), 0, KindSuper))
	require.Equal(t, 512, fe.Torn, "a short write is written whole, and still fails")
	require.Equal(t, fill(3, 512), mem.Bytes()[:512])
	require.Equal(t, FaultStats{Writes: 1, Durables: 1, Torn: 2}, f.Faults())
}

func TestFaultCrash(t *testing.T) {
	f, mem := newFaultMem()
	id := f.CrashAfterWrites(3)
	model := make([]byte, faultDevSize)
	for i := range 3 {
		off := int64(i) * 8192
		require.NoError(t, f.WriteAt(fill(byte(i+1), 8192), off, Kind(i)))
		copy(model[off:], fill(byte(i+1), 8192))
	}
	require.NoError(t, f.Flush(), "flushes do not count as writes")
	require.False(t, f.Crashed())

	err := f.WriteAt(fill(4, 8192), 3*8192, KindMeta)
	fe := requireInjected(t, err)
	require.True(t, fe.Crash)
	require.EqualError(t, err, "injected fault: write 8192 bytes at 24576 (metadata, rule 1, power lost): input/output error")
	require.True(t, f.Crashed())

	err = f.Flush()
	fe = requireInjected(t, err)
	require.True(t, fe.Crashed)
	require.Equal(t, id, fe.Rule)
	require.EqualError(t, err, "injected fault: flush (device crashed by rule 1): input/output error")
	requireInjected(t, f.WriteDurable(fill(5, 4096), 65536, KindSuper))
	requireInjected(t, f.WriteAt(fill(5, 4096), 0, KindData))
	f.Disarm(id)
	requireInjected(t, f.WriteAt(fill(5, 4096), 0, KindData)) // disarming does not bring power back

	got := make([]byte, 8192)
	require.NoError(t, f.ReadAt(got, 0, KindMeta), "reads still work")
	require.Equal(t, fill(1, 8192), got)
	require.Equal(t, model, mem.Bytes(), "the device holds exactly what was written before the crash")
	require.Equal(t, FaultStats{Writes: 3, Durables: 1, Flushes: 1, AfterCrash: 4}, f.Faults())

	f.Reset()
	require.False(t, f.Crashed())
	require.NoError(t, f.WriteAt(fill(6, 4096), 0, KindData))
	require.NoError(t, f.Flush())
}

// TestFaultTornCrash: power lost in the middle of a metadata write.
func TestFaultTornCrash(t *testing.T) {
	f, mem := newFaultMem()
	f.Arm(FaultRule{Ops: OpWrites, Kinds: []Kind{KindMeta}, Skip: 1, Count: 1, Torn: 4096, Crash: true})
	require.NoError(t, f.WriteAt(fill(1, 16384), 0, KindMeta))
	require.NoError(t, f.WriteAt(fill(2, 16384), 16384, KindData))
	fe := requireInjected(t, f.WriteAt(fill(3, 16384), 32768, KindMeta))
	require.True(t, fe.Crash)
	require.Equal(t, 4096, fe.Torn)
	requireInjected(t, f.WriteAt(fill(4, 4096), 65536, KindData))
	want := append(append(fill(1, 16384), fill(2, 16384)...), fill(3, 4096)...)
	require.Equal(t, want, mem.Bytes()[:len(want)])
	require.Equal(t, fill(0, 4096), mem.Bytes()[65536:65536+4096])
}

func TestFaultWriteSuperError(t *testing.T) {
	f := NewFaultDevice(NewMemDevice(mirror1End))
	f.Arm(FaultRule{Ops: OpDurable, Kinds: []Kind{KindSuper}})
	err := WriteSuper(f, testSuper(1))
	require.ErrorIs(t, err, syscall.EIO)
	require.EqualError(t, err, "write superblock primary at 65536: injected fault: "+
		"write-durable 4096 bytes at 65536 (super, rule 1): input/output error")
}

// TestFaultConcurrent: rules count exactly under concurrent I/O, and a
// crash keeps exactly the writes admitted before it.
func TestFaultConcurrent(t *testing.T) {
	const goroutines, perG, slot = 8, 200, 512
	f, mem := newFaultMem()
	id := f.Arm(FaultRule{Ops: OpWrite, Skip: 100, Count: 50})
	crash := f.CrashAfterWrites(1000)
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	written := make([]bool, goroutines*perG)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				n := g*perG + i
				err := f.WriteAt(fill(byte(n%251+1), slot), int64(n*slot), KindMeta)
				_, injected := errors.AsType[*FaultError](err)
				switch {
				case err == nil:
					ok.Add(1)
					written[n] = true
				case injected && errors.Is(err, syscall.EIO):
					failed.Add(1)
				default:
					t.Errorf("write %d: %v", n, err)
				}
			}
		})
	}
	wg.Go(func() { // arming and disarming while I/O goes on
		for range 100 {
			f.Disarm(f.Arm(FaultRule{Ops: OpRead}))
			_ = f.Faults()
		}
	})
	wg.Wait()
	require.Equal(t, uint64(50), f.Fired(id))
	require.Equal(t, uint64(1), f.Fired(crash))
	require.Equal(t, int64(950), ok.Load(), "1000 writes before the crash, 50 of them failed by rule 1")
	require.Equal(t, int64(goroutines*perG-950), failed.Load())
	for n, w := range written {
		want := fill(0, slot)
		if w {
			want = fill(byte(n%251+1), slot)
		}
		require.Equal(t, want, mem.Bytes()[n*slot:(n+1)*slot], "slot %d", n)
	}
}

func TestFaultRuleValidation(t *testing.T) {
	f, _ := newFaultMem()
	for name, r := range map[string]FaultRule{
		"no ops":       {},
		"unknown op":   {Ops: 1 << 6},
		"bad kind":     {Ops: OpWrite, Kinds: []Kind{numKinds}},
		"negative off": {Ops: OpRead, Off: -1},
		"negative len": {Ops: OpRead, Len: -1},
		"range wraps":  {Ops: OpRead, Off: 1 << 62, Len: 1 << 62},
		"torn read":    {Ops: OpRead | OpFlush, Torn: 1},
		"torn < 0":     {Ops: OpWrite, Torn: -1},
	} {
		require.Panics(t, func() { f.Arm(r) }, name)
	}
	kinds := []Kind{KindMeta}
	id := f.Arm(FaultRule{Ops: OpWrite, Kinds: kinds})
	kinds[0] = KindData // the rule keeps its own copy
	requireInjected(t, f.WriteAt(fill(1, 512), 0, KindMeta))
	require.Equal(t, FaultID(1), id)
}

func TestFaultOpString(t *testing.T) {
	require.Equal(t, "read", OpRead.String())
	require.Equal(t, "write|write-durable", OpWrites.String())
	require.Equal(t, "read|flush", (OpRead | OpFlush).String())
	require.Equal(t, "op-0x0", FaultOp(0).String())
	require.Equal(t, "write|op-0x20", (OpWrite | 1<<5).String())
}
