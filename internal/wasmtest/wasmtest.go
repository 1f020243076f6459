// Package wasmtest builds filter plugins to WebAssembly for tests, so that
// `go test ./...` works on a clean clone, and holds the one wazero
// compilation cache every test host shares.
//
// `go test ./...` runs packages as parallel processes, and many of them use
// the same plugins, so builds are kept in one on-disk cache under the user
// cache directory (os.UserCacheDir, moved by XDG_CACHE_HOME), keyed by a
// hash of everything the build reads. A file lock per entry makes sure two
// processes never build the same module at once (the second waits and takes
// the first one's result) and that nobody reads a half-written file (a build
// writes a temporary file and renames it into place). Each plugin is built
// the first time a test asks for it, never ahead.
package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// guestFlags are the flags of every guest build. The environment of the
// build is set too (guestEnv): a host's GOFLAGS (say -race, which wasip1
// does not support, or -cover) must not leak into it.
var guestFlags = []string{"-buildmode=c-shared", "-trimpath", "-buildvcs=false"}

// noGOFLAGS replaces the caller's GOFLAGS in the builds wasmtest runs. It
// must not be empty: the go command ignores an empty GOFLAGS and reads the
// one `go env -w` stored. -buildvcs=false is harmless (and saves asking git).
const noGOFLAGS = "GOFLAGS=-buildvcs=false"

// guestEnv is the environment of a guest build: the caller's, for GOCACHE,
// GOMODCACHE, GOPROXY and the like (so every guest build shares the Go build
// cache for the SDK and the standard library), with the target set and the
// host's build flags cleared.
func guestEnv() []string {
	env := make([]string, 0, len(os.Environ())+4)
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "GOOS", "GOARCH", "GOFLAGS", "CGO_ENABLED":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOOS=wasip1", "GOARCH=wasm", noGOFLAGS, "CGO_ENABLED=0")
}

// result is one build in this process: done once, shared by every test.
type result struct {
	once sync.Once
	path string
	err  error // a skipError skips the tests that need the build
}

// skipError is why a build script could not build (its toolchain is not
// installed): the tests that need it are skipped, not failed.
type skipError string

func (s skipError) Error() string { return string(s) }

var (
	mu      sync.Mutex
	results = map[string]*result{} // pkgDir or script → its build
)

// do runs build once per key in this process and hands every caller the
// same outcome; a failed build fails each test that needs it.
func do(t testing.TB, key string, build func() (string, error)) string {
	t.Helper()
	path, err := once(key, build)
	var skip skipError
	if errors.As(err, &skip) {
		t.Skip(string(skip))
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// once runs build once per key in this process.
func once(key string, build func() (string, error)) (string, error) {
	mu.Lock()
	r, ok := results[key]
	if !ok {
		r = &result{}
		results[key] = r
	}
	mu.Unlock()
	r.once.Do(func() { r.path, r.err = build() })
	return r.path, r.err
}

// Build compiles the Go plugin in pkgDir (a path relative to the module
// root, e.g. "plugin/testdata/behave") for wasip1 and returns the .wasm
// path. The cache key covers the Go version, the build flags, go.mod, go.sum
// and the sources of every package of this module the plugin imports (as
// `go list -deps` reports them for wasip1), so a change to a shared package
// rebuilds it.
func Build(t testing.TB, pkgDir string) string {
	t.Helper()
	return do(t, pkgDir, func() (string, error) {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		h, err := sourceHash(root, pkgDir, guestEnv(), fmt.Sprintf("%q", guestFlags))
		if err != nil {
			return "", err
		}
		out, err := cached(pkgDir, ".wasm", h, func(tmp string) error {
			cmd := exec.Command("go", append(append([]string{"build"}, guestFlags...), "-o", tmp, "./"+pkgDir)...)
			cmd.Dir = root
			cmd.Env = guestEnv()
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("wasmtest: building %s: %v\n%s", pkgDir, err, b)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		return out, precompile(out)
	})
}

// sourceHash hashes what building pkgDir in env reads: the Go version,
// extra (the flags), go.mod, go.sum and the Go sources of every package of
// this module it imports, as `go list -deps` reports them.
func sourceHash(root, pkgDir string, env []string, extra string) (hash.Hash, error) {
	list := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./"+pkgDir)
	list.Dir = root
	list.Env = env
	list.Stderr = new(strings.Builder)
	dirs, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("wasmtest: listing the packages of %s: %v\n%s", pkgDir, err, list.Stderr)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", runtime.Version(), extra)
	paths := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, d := range strings.Split(strings.TrimSpace(string(dirs)), "\n") {
		if strings.HasPrefix(d, root+string(filepath.Separator)) {
			paths = append(paths, d)
		}
	}
	for _, p := range paths {
		if err := hashFiles(h, root, p, false); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// skipStatus is the exit status a build script uses to say its toolchain
// is not installed (the convention of automake's test drivers).
const skipStatus = 77

// BuildScript builds a plugin written in another language by running the
// executable script (relative to the module root, e.g.
// "examples/rust-filter/build.sh") with the output path as its argument.
// The result is cached like Build's, keyed by every file in the script's
// directory. A script exiting 77 skips the test with the script's message.
func BuildScript(t testing.TB, script string) string {
	t.Helper()
	return do(t, script, func() (string, error) {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		h := sha256.New()
		if err := hashFiles(h, root, filepath.Dir(filepath.Join(root, script)), true); err != nil {
			return "", err
		}
		out, err := cached(filepath.Dir(script), ".wasm", h, func(tmp string) error {
			cmd := exec.Command(filepath.Join(root, script), tmp)
			cmd.Dir = root
			b, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == skipStatus {
				return skipError(fmt.Sprintf("%s: %s", script, strings.TrimSpace(string(b))))
			}
			if err != nil {
				return fmt.Errorf("wasmtest: building with %s: %v\n%s", script, err, b)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		return out, precompile(out)
	})
}

// cached returns the cache entry named after name and keyed by h (with
// suffix, such as ".wasm"), making it
// with build (which writes the file it is given) under an exclusive lock
// when it is missing. A failure or skip is not cached: installing a
// toolchain must be enough to run the test next time.
func cached(name, suffix string, h hash.Hash, build func(tmp string) error) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	name = strings.ReplaceAll(filepath.ToSlash(name), "/", "-")
	out := filepath.Join(dir, name+"-"+hex.EncodeToString(h.Sum(nil))[:16]+suffix)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have built it while this one waited for the lock.
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	f, err := os.CreateTemp(dir, name+".*.tmp")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if err := build(tmp); err != nil {
		return "", err
	}
	if fi, err := os.Stat(tmp); err != nil || fi.Size() == 0 {
		return "", fmt.Errorf("wasmtest: building %s wrote no module (%v)", name, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

// hashFiles adds path (a file, or a directory's files; below it too when
// recursive) to h, names and contents. Only Go sources and module files
// count for non-recursive directories; recursive walks take every file.
func hashFiles(h hash.Hash, root, path string, recursive bool) error {
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if !recursive && !strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, ".mod") && !strings.HasSuffix(p, ".sum") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", strings.TrimPrefix(p, root), len(b))
		h.Write(b)
		return nil
	})
}

// CompileCacheDir is the wazero compilation cache every test host shares
// (plugin.HostOptions.CacheDir), so a module compiles once per machine
// rather than once per test relay: compiling a Go plugin takes seconds, and
// over 15 s in a race-built binary. It is the directory plugin.UserCacheDir
// names (sluice/wasm-cache under the user cache directory), which
// `sluice check-config`, `plugin check` and `plugin test` use, so the
// binaries the end-to-end tests run find the tests' modules compiled too.
//
// wazero writes each entry to a temporary file and renames it into place,
// so processes sharing the directory never read a partial entry; two that
// compile the same module at once both write it, and either copy is good.
func CompileCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	d := filepath.Join(base, "sluice", "wasm-cache")
	os.MkdirAll(d, 0o755) // wazero reports a failure where it opens the cache
	return d
}

// Dir is the directory of built test plugins, shared by every test process
// of the user: sluice-test-wasm under the user cache directory
// (XDG_CACHE_HOME moves it), created if missing.
func Dir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	d := filepath.Join(base, "sluice-test-wasm")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("wasmtest: %w", err)
	}
	return d, nil
}

var (
	rootOnce sync.Once
	root     string
	rootErr  error
)

// moduleRoot is the directory of go.mod, found from the test's working
// directory (its package's directory) upwards.
func moduleRoot() (string, error) {
	rootOnce.Do(func() {
		d, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				root = d
				return
			}
			parent := filepath.Dir(d)
			if parent == d {
				rootErr = errors.New("wasmtest: not inside the module (no go.mod above the working directory)")
				return
			}
			d = parent
		}
	})
	return root, rootErr
}
