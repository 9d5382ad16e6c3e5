package crash

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk"
)

// fill is a 1 KiB write of byte b at off.
func fill(b byte, off int64) disk.RecEntry {
	return disk.RecEntry{Op: disk.RecWrite, Off: off, Data: bytes.Repeat([]byte{b}, 1024), Kind: disk.KindMeta}
}

// tinyLog: writes A and B, a flush, a FUA write C, a mark, a write D left
// in flight at the end.
func tinyLog() []disk.RecEntry {
	c := fill('C', 8192)
	c.Op = disk.RecFUA
	return []disk.RecEntry{fill('A', 0), fill('B', 4096), {Op: disk.RecFlush}, c, {Op: disk.RecMark, Label: "m"}, fill('D', 12288)}
}

// content is the first byte of each written page of a state: which
// writes landed, '-' for none, lower case for a torn one.
func content(t *testing.T, d *device) string {
	var s []byte
	for _, off := range []int64{0, 4096, 8192, 12288} {
		p := make([]byte, 1024)
		require.NoError(t, d.ReadAt(p, off, disk.KindMeta))
		switch {
		case p[0] == 0:
			s = append(s, '-')
		case p[1023] == 0:
			s = append(s, p[0]+'a'-'A')
		default:
			s = append(s, p[0])
		}
	}
	return string(s)
}

// Every level's states of a small recording, by hand: which writes land in
// each, and the digest names the content (equal contents, equal digests,
// whatever layers built them).
func TestCutStates(t *testing.T) {
	got := map[string]string{}
	digests := map[string]uint64{}
	err := cut(64<<10, tinyLog(), 0, DefaultCutOptions(), func(s State, d *device) error {
		c := content(t, d)
		got[s.ID()] = c
		fresh := newImage(64<<10, nil)
		fresh.write(d.im.flatten(), 0)
		require.Equal(t, fresh.digest, d.im.digest, s.ID())
		if prev, ok := digests[c]; ok {
			require.Equal(t, prev, d.im.digest, "%s: %s", s.ID(), c)
		}
		digests[c] = d.im.digest
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"L0@2:[0 1]": "AB--", "L1@2:[]": "----", "L1@2:[0]": "A---",
		"L2@2:[]": "----", "L2@2:[0]": "A---", "L2@2:[1]": "-B--", "L2@2:[0 1]": "AB--",
		"L3@2:[]+0[:512]": "a---", "L3@2:[0]+1[:512]": "Ab--",
		"L0@3:[3]": "ABC-", "L1@3:[]": "AB--", "L3@3:[]+3[:512]": "ABc-",
		"L0@4:[]":  "ABC-",
		"L0@6:[5]": "ABCD", "L1@6:[]": "ABC-", "L3@6:[]+5[:512]": "ABCd",
	}, got)
	require.Len(t, digests, 10)
}

// A state's own writes (recovery's) never reach the layers it shares.
func TestDeviceWritesStayPrivate(t *testing.T) {
	durable := newImage(64<<10, nil)
	durable.write([]byte("durable"), 100)
	d := newDevice(durable)
	require.NoError(t, d.WriteAt([]byte("private"), 100, disk.KindMeta))
	p := make([]byte, 7)
	require.NoError(t, d.ReadAt(p, 100, disk.KindMeta))
	require.Equal(t, "private", string(p))
	durable.read(p, 100)
	require.Equal(t, "durable", string(p))
	require.Zero(t, zeroPage[100])
	require.Error(t, d.ReadAt(p, 64<<10-3, disk.KindMeta))
}
