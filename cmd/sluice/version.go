package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, when set at build time with -ldflags "-X main.version=...",
// replaces the module version the Go toolchain records (a release build
// from a tarball has no VCS to stamp it).
var version string

// versionString is what `sluice version` prints and serve logs: the module
// version and, when the binary was built from a VCS checkout, the revision
// it was built from, its commit time and whether the tree had local
// changes, from the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo); then the Go version. For example:
//
//	v0.3.0 go1.26.8
//	v0.0.0-20260102150405-0123456789ab+dirty (revision 0123456789abcdef0123456789abcdef01234567, 2026-01-02T15:04:05Z, modified) go1.26.8
//	(devel) go1.26.8
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(version, bi)
}

func formatVersion(override string, bi *debug.BuildInfo) string {
	v, goVersion := override, runtime.Version()
	var vcs []string
	if bi != nil {
		if v == "" {
			v = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			vcs = append(vcs, "revision "+rev)
			if t := settings["vcs.time"]; t != "" {
				vcs = append(vcs, t)
			}
			if settings["vcs.modified"] == "true" {
				vcs = append(vcs, "modified")
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if len(vcs) > 0 {
		v += fmt.Sprintf(" (%s)", strings.Join(vcs, ", "))
	}
	return v + " " + goVersion
}
