//go:build !race

package crash

const raceOn = false
