package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// Compiling a Go plugin with wazero's optimizing compiler is the largest
// cost of the tests: about 2.5 s of CPU for the spam filter, and 26 s inside
// a test binary built with -race, which instruments wazero's compiler too.
// The packages of `go test -race ./...` load the same ~20 modules, two
// processes at a time on a 2-core machine, each into its own hosts.
//
// So every module Build or BuildScript returns is first compiled into
// CompileCacheDir by internal/wasmtest/precompile, a helper built without
// the race detector, once per machine and under the module's file lock;
// the hosts then load the compiled code from the cache. Race detection is
// not lost: it watches the host's code running the plugins, not the
// compiler that made them.
//
// wazero keeps a cache per wazero version string, read from the build
// info: a test binary of a library package knows no module versions and
// says "dev", while a main package's test binary (cmd/sluice) and a sluice
// binary say the version go.mod requires. So the helper is built with
// wazero's version set (-X) to each version in use, and compiles each
// module for each: the one this test binary uses, and go.mod's (for the
// sluice binaries the end-to-end tests run), once when they are the same.

// helperVariants are the wazero version strings to compile for.
func helperVariants() []string {
	v := inProcessWazeroVersion()
	if m := goModWazeroVersion(); m != "" && m != v {
		return []string{v, m}
	}
	return []string{v}
}

// inProcessWazeroVersion is the version string wazero computes in this
// process (wazero's internal/version.GetWazeroVersion, restated).
func inProcessWazeroVersion() string {
	v := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if strings.Contains(d.Path, "github.com/tetratelabs/wazero") {
				v = d.Version
			}
		}
		if v == "" || v == "(devel)" {
			v = bi.Main.Version
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	return v
}

// goModWazeroVersion is the wazero version go.mod requires, which a
// binary built from this module reports; "" if it cannot tell.
func goModWazeroVersion() string {
	root, err := moduleRoot()
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == "github.com/tetratelabs/wazero" {
			return f[1]
		}
	}
	return ""
}

const helperPkg = "internal/wasmtest/precompile"

// helper builds the precompile command (cached like the plugins), making
// wazero report version v.
func helper(v string) (string, error) {
	return once("precompile helper "+v, func() (string, error) {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		env := hostEnv()
		args := []string{"build", "-trimpath", "-buildvcs=false",
			"-ldflags=-X=github.com/tetratelabs/wazero/internal/version.version=" + v}
		h, err := sourceHash(root, helperPkg, env, fmt.Sprintf("%q", args))
		if err != nil {
			return "", err
		}
		return cached("precompile-"+v, "", h, func(tmp string) error {
			cmd := exec.Command("go", append(args, "-o", tmp, "./"+helperPkg)...)
			cmd.Dir = root
			cmd.Env = env
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("wasmtest: building %s: %v\n%s", helperPkg, err, b)
			}
			return nil
		})
	})
}

// hostEnv is the environment of a build for this machine without the
// test's build flags (-race above all).
func hostEnv() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOFLAGS=") {
			env = append(env, kv)
		}
	}
	return append(env, noGOFLAGS)
}

// precompile compiles the module at path into CompileCacheDir for every
// helper variant that has not yet, leaving a stamp beside the module for
// each. A module the host would refuse (the plugin tests' broken ones) is
// left alone: the test using it sees the host's own error.
func precompile(path string) error {
	cacheDir := CompileCacheDir()
	stamp := func(v string) string {
		sum := sha256.Sum256([]byte(cacheDir + "\x00" + v))
		return path + ".compiled-" + hex.EncodeToString(sum[:6])
	}
	var todo []string
	for _, v := range helperVariants() {
		if _, err := os.Stat(stamp(v)); err != nil {
			todo = append(todo, v)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	for _, v := range todo {
		if _, err := os.Stat(stamp(v)); err == nil {
			continue // another process did it while this one waited
		}
		bin, err := helper(v)
		if err != nil {
			return err
		}
		cmd := exec.Command(bin, cacheDir, path)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wasmtest: precompiling %s: %v\n%s", path, err, out)
		}
		if err := os.WriteFile(stamp(v), nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}
