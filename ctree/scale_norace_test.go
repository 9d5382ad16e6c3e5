//go:build !race

package ctree

// scaleRaceBuild reports a -race build (see scale_race_test.go).
const scaleRaceBuild = false
