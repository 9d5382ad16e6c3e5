package disk

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The recorder logs every completed write with a copy of its bytes, every
// flush, FUA write and mark, in order, and passes the I/O to the inner
// device unchanged.
func TestRecordDeviceLogsInOrder(t *testing.T) {
	mem := NewMemDevice(1 << 20)
	r := NewRecordDevice(mem)
	p := []byte("abcd")
	require.NoError(t, r.WriteAt(p, 4096, KindMeta))
	p[0] = 'X' // the recording keeps its own copy
	r.Mark("op 1")
	require.NoError(t, r.Flush())
	require.NoError(t, r.WriteDurable([]byte("super"), 65536, KindSuper))
	got := r.Entries()
	require.Equal(t, []RecEntry{
		{Op: RecWrite, Off: 4096, Data: []byte("abcd"), Kind: KindMeta},
		{Op: RecMark, Label: "op 1"},
		{Op: RecFlush},
		{Op: RecFUA, Off: 65536, Data: []byte("super"), Kind: KindSuper},
	}, got)
	require.Equal(t, []byte("abcd"), mem.Bytes()[4096:4100])
	require.Equal(t, []byte("super"), mem.Bytes()[65536:65541])
	require.Equal(t, uint64(2), mem.Stats().Flushes) // the flush and the FUA write
}

// A failed operation is not recorded: it never completed.
func TestRecordDeviceSkipsFailures(t *testing.T) {
	f := NewFaultDevice(NewMemDevice(1 << 20))
	r := NewRecordDevice(f)
	f.Arm(FaultRule{Ops: OpWrite | OpFlush, Count: 0})
	require.Error(t, r.WriteAt([]byte("x"), 0, KindData))
	require.Error(t, r.Flush())
	require.Error(t, r.WriteAt([]byte("x"), 1<<20, KindData)) // out of range
	require.Zero(t, r.Len())
	f.Reset()
	require.NoError(t, r.WriteAt([]byte("y"), 0, KindData))
	require.Equal(t, 1, r.Len())
	require.Equal(t, "write data 1 bytes at 0", r.Entries()[0].String())
}

// Preload puts a recording's writes on the inner device and its entries
// in the log.
func TestRecordDevicePreload(t *testing.T) {
	src := NewRecordDevice(NewMemDevice(1 << 20))
	require.NoError(t, src.WriteAt([]byte("mkfs"), 8192, KindMeta))
	require.NoError(t, src.Flush())
	mem := NewMemDevice(1 << 20)
	r := NewRecordDevice(mem)
	require.NoError(t, r.Preload(src.Entries()))
	require.Equal(t, src.Entries(), r.Entries())
	require.Equal(t, []byte("mkfs"), mem.Bytes()[8192:8196])
	require.Error(t, NewRecordDevice(NewMemDevice(4096)).Preload(src.Entries()))
}
