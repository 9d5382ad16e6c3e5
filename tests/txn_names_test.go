package tests

// Names and values of the transaction workload: random names of varied
// length, some forged to collide with a name already there (so the
// DIR_ITEM or XATTR_ITEM packs two entries), and random xattr values from
// empty to as large as one leaf holds.

import (
	"fmt"
	"math/rand/v2"
)

const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+="

// randomName is prefix and random characters: mostly short, sometimes long
// enough that names reach NAME_MAX (255).
func randomName(rng *rand.Rand, prefix string) string {
	n := 1 + rng.IntN(16)
	if rng.IntN(20) == 0 {
		n = 100 + rng.IntN(255-100-len(prefix)-4)
	}
	b := []byte(prefix)
	for range n {
		b = append(b, nameChars[rng.IntN(len(nameChars))])
	}
	return string(b)
}

// forgedName is a name of about prefix's form whose hash is hash.
func forgedName(rng *rand.Rand, prefix string, hash uint64) (string, error) {
	for range 64 {
		if name, ok := collidingName(randomName(rng, prefix), hash); ok && len(name) <= 255 {
			return name, nil
		}
	}
	return "", fmt.Errorf("no name with hash %#x found (forge bug)", hash)
}

// newEntryName picks a name not in taken: one time in collideOneIn it
// collides with a name of others (when there is one).
func newEntryName(rng *rand.Rand, prefix string, others []string, taken func(string) bool) (string, error) {
	for {
		name := randomName(rng, prefix)
		if len(others) > 0 && rng.IntN(collideOneIn) == 0 {
			var err error
			target := others[rng.IntN(len(others))]
			if name, err = forgedName(rng, prefix, nameHash(target)); err != nil {
				return "", err
			}
		}
		if !taken(name) {
			return name, nil
		}
	}
}

// collideOneIn: one new name in this many is forged to collide.
const collideOneIn = 8

// valueSize draws an xattr value size up to max: mostly small, some
// medium, some the largest that fits.
func valueSize(rng *rand.Rand, max int) int {
	if max <= 0 {
		return 0
	}
	switch x := rng.IntN(20); {
	case x < 8:
		return rng.IntN(min(max, 64) + 1)
	case x < 14:
		return rng.IntN(min(max, 1024) + 1)
	case x < 18:
		return rng.IntN(max/2 + 1)
	default:
		return max - rng.IntN(min(max, 16)+1)
	}
}

// randomBytes returns n random bytes.
func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := i; j < min(i+8, n); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}
