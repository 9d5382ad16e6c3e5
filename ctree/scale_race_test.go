//go:build race

package ctree

// scaleRaceBuild reports a -race build: TestModelScale then defaults to
// fewer operations (the race detector slows it about 20 times).
const scaleRaceBuild = true
