package main

import (
	"os/exec"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "-race", Value: "true"}, {Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-01-02T15:04:05Z"}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name, override string
		bi             *debug.BuildInfo
		want           string
	}{
		{"release", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"}}, "v0.3.0 go1.26.8"},
		{"checkout", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260102150405-0123456789ab"}, Settings: vcs("false")},
			"v0.0.0-20260102150405-0123456789ab (revision " + rev + ", 2026-01-02T15:04:05Z) go1.26.8"},
		{"modified", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")},
			"(devel) (revision " + rev + ", 2026-01-02T15:04:05Z, modified) go1.26.8"},
		{"ldflags", "1.2.3", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")},
			"1.2.3 (revision " + rev + ", 2026-01-02T15:04:05Z) go1.26.8"},
		{"no vcs", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "-buildvcs", Value: "false"}}},
			"(devel) go1.26.8"},
		{"empty", "", &debug.BuildInfo{GoVersion: "go1.26.8"}, "(devel) go1.26.8"},
	} {
		if got := formatVersion(tc.override, tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVersion: the binary prints the module version and the VCS revision
// the Go toolchain stamped into it, as `go version -m` reads them.
func TestVersion(t *testing.T) {
	t.Parallel()
	bin := sluiceBinary(t)
	code, stdout, _ := runSluice(t, "", "version")
	if code != 0 || !regexp.MustCompile(`^sluice \S+( \(revision [0-9a-f]{40}(, [0-9TZ:-]+)?(, modified)?\))? go[0-9.]+\S*\n$`).MatchString(stdout) {
		t.Fatalf("exit code %d, stdout %q", code, stdout)
	}
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	info := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			info["mod"] = f[2]
		case len(f) == 2 && f[0] == "build" && strings.Contains(f[1], "="):
			k, v, _ := strings.Cut(f[1], "=")
			info[k] = v
		}
	}
	if !strings.HasPrefix(stdout, "sluice "+info["mod"]+" ") {
		t.Errorf("stdout %q does not start with the module version %q", stdout, info["mod"])
	}
	if rev := info["vcs.revision"]; rev != "" {
		if !strings.Contains(stdout, "(revision "+rev) {
			t.Errorf("stdout %q does not name revision %s", stdout, rev)
		}
		if (info["vcs.modified"] == "true") != strings.Contains(stdout, ", modified)") {
			t.Errorf("stdout %q disagrees with vcs.modified=%s", stdout, info["vcs.modified"])
		}
	} else if strings.Contains(stdout, "revision") {
		t.Errorf("stdout %q names a revision the build info lacks", stdout)
	}
}
