package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startCPUProfile profiles the daemon's CPU into path (none when path is
// empty) until the returned function is called: `cowfs mount
// --cpuprofile FILE`, for `go tool pprof`.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
