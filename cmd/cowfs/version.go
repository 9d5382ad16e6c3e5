package main

import (
	"fmt"
	"runtime/debug"
)

// versionString is what cowfs --version prints: the module version Go
// stamped into the binary (with -buildvcs=true in a git checkout, a
// pseudo-version naming the commit, "+dirty" with uncommitted changes),
// else the commit Go recorded, and the Go release.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (built without module information)"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = develVersion(info)
	}
	return v + ", " + info.GoVersion
}

// develVersion names the commit of a build without a module version.
func develVersion(info *debug.BuildInfo) string {
	rev := buildSetting(info, "vcs.revision")
	if rev == "" {
		return "devel (no commit recorded: build with go build -buildvcs=true in a git checkout)"
	}
	v := fmt.Sprintf("devel, commit %.12s of %s", rev, buildSetting(info, "vcs.time"))
	if buildSetting(info, "vcs.modified") == "true" {
		v += " with uncommitted changes"
	}
	return v
}

func buildSetting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
