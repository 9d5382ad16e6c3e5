//go:build race

package ctree

// raceEnabled: the race detector slows every operation several times, so
// the operation-count tests run fewer.
const raceEnabled = true
