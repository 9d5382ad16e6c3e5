//go:build race

package crash

// raceOn: the race detector slows the oracles about fourfold, so the
// campaign tests narrow their cuts under it (narrowForRace).
const raceOn = true
