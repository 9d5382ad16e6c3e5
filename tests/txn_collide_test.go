package tests

// Deliberate name-hash collisions for the transaction workload. The name
// hash (format.NameHash) is a raw CRC-32C, so four chosen bytes appended to
// any prefix reach any 32-bit state: after four steps
//
//	s4 = T[i3] ^ T[i2]>>8 ^ T[i1]>>16 ^ T[i0]>>24
//
// depends on the four table indices only, and each index is fixed by the
// top byte of the state its step produces (the table entries' top bytes
// are a permutation). Walking back from the wanted hash gives the indices;
// walking forward from the prefix's state gives the bytes.

import (
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"cowfs/disk/format"
)

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// topByteIndex maps the top byte of a table entry to its index.
var topByteIndex = func() (inv [256]byte) {
	for i, v := range castagnoliTable {
		inv[v>>24] = byte(i)
	}
	return inv
}()

// forgeSuffix returns the four bytes that take the raw CRC-32C state from
// to want.
func forgeSuffix(from, want uint32) [4]byte {
	var idx [4]byte
	s := want
	for k := 3; k >= 0; k-- {
		idx[k] = topByteIndex[s>>24]
		s = (s ^ castagnoliTable[idx[k]]) << 8
	}
	var out [4]byte
	cur := from
	for k := range out {
		out[k] = byte(cur) ^ idx[k]
		cur = castagnoliTable[idx[k]] ^ cur>>8
	}
	return out
}

// collidingName returns prefix and four bytes whose NameHash is hash; false
// when a forged byte is NUL or '/' (the caller tries another prefix) or the
// forge missed (a bug here, reported by the caller).
func collidingName(prefix string, hash uint64) (string, bool) {
	sfx := forgeSuffix(uint32(format.NameHash([]byte(prefix))), uint32(hash))
	for _, b := range sfx {
		if b == 0 || b == '/' {
			return "", false
		}
	}
	name := prefix + string(sfx[:])
	return name, format.NameHash([]byte(name)) == hash
}

// TestCollidingName: forged names hash to the wanted value.
func TestCollidingName(t *testing.T) {
	made := 0
	for i := range 200 {
		want := format.NameHash([]byte(fmt.Sprintf("user.target.%d", i)))
		name, ok := collidingName(fmt.Sprintf("user.c%d.", i), want)
		if name == "" {
			continue // a NUL or '/' byte: the workload retries
		}
		require.True(t, ok, "forged %q hashes to %d, want %d", name, format.NameHash([]byte(name)), want)
		made++
	}
	require.Greater(t, made, 150)
}
