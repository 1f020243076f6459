package builtin

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// modulePath is the module whose plugins/ directory holds the sources.
const modulePath = "github.com/sluice-mail/sluice"

// BuildFlags are the flags of every built-in's build, in the release
// (gen/main.go) and from source alike: a module for wasip1 with the
// reactor model the ABI asks for, no file paths and no symbol table.
var BuildFlags = []string{"-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

// BuildEnv is the environment of a built-in's build: the caller's, with
// the target set and host-only settings (GOFLAGS such as -race, cgo)
// cleared.
func BuildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOOS", "GOARCH", "GOFLAGS", "CGO_ENABLED":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=", "CGO_ENABLED=0")
}

// buildFromSource builds plugins/name of the source tree this binary was
// built from into the user cache directory and returns the module. The Go
// build cache makes a build of unchanged sources take about a second, so
// each load builds again: an edited plugin is picked up at the next start
// or reload.
func buildFromSource(name string, log hclog.Logger) ([]byte, error) {
	root, err := SourceRoot()
	if err != nil {
		return nil, fmt.Errorf("built-in filter %q is not embedded in this development build and %v; "+
			"build a release binary with scripts/build-release.sh (see HACKING.md)", name, err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("built-in filter %q is not embedded in this development build and no Go toolchain is on PATH to build it; "+
			"build a release binary with scripts/build-release.sh (see HACKING.md)", name)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("built-in filter %q: building it from source: %w", name, err)
	}
	dir := filepath.Join(cache, "sluice", "builtin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, name+".wasm")
	if log != nil {
		log.Info("building built-in filter from source (development build; release builds embed it, see HACKING.md)",
			"builtin", name, "source", filepath.Join(root, "plugins", name), "output", out)
	}
	start := time.Now()
	tmp, err := os.CreateTemp(dir, name+".*.tmp")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := append(append([]string{"build"}, BuildFlags...), "-o", tmp.Name(), "./plugins/"+name)
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root
	cmd.Env = BuildEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("built-in filter %q: go build ./plugins/%s in %s: %v\n%s", name, name, root, err, b)
	}
	// Read from the file this build wrote (another filter block naming the
	// same built-in may be building beside it), then renamed into place,
	// so that nobody reads half a module at out.
	wasm, err := os.ReadFile(tmp.Name())
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, err
	}
	if log != nil {
		log.Debug("built-in filter built", "builtin", name, "took", time.Since(start).Round(time.Millisecond))
	}
	return wasm, nil
}

// SourceRoot is the root of the sluice source tree: the one this package
// was compiled from when its path is known (a build without -trimpath,
// such as `go run`), else the nearest directory at or above the working
// directory whose go.mod declares sluice's module.
func SourceRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		// file is <root>/plugin/builtin/source.go.
		root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		if isSluiceModule(root) {
			return root, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isSluiceModule(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("the sluice source tree it was built from is not found (nor a checkout at or above the working directory)")
		}
	}
}

// isSluiceModule reports whether dir/go.mod declares sluice's module.
func isSluiceModule(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`) == modulePath
		}
	}
	return false
}
