// Package wasmtest builds filter plugins to WebAssembly for tests, so that
// `go test ./...` works on a clean clone. Builds are cached under the user
// cache directory, keyed by a hash of everything the build reads.
package wasmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

var (
	mu    sync.Mutex
	built = map[string]string{} // pkgDir or script → .wasm path, per test binary
)

// Build compiles the Go plugin in pkgDir (a path relative to the module
// root, e.g. "plugin/testdata/behave") for wasip1 and returns the .wasm
// path. The cache key covers the Go version, go.mod, go.sum and the sources
// of every package of this module the plugin imports (as `go list -deps`
// reports them for wasip1), so a change to a shared package rebuilds it.
func Build(t testing.TB, pkgDir string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkgDir]; ok {
		return p
	}
	root := moduleRoot(t)
	list := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./"+pkgDir)
	list.Dir = root
	list.Env = wasmEnv()
	dirs, err := list.Output()
	if err != nil {
		t.Fatalf("listing the packages of %s: %v", pkgDir, err)
	}
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	hashFiles(t, h, root, filepath.Join(root, "go.mod"), false)
	hashFiles(t, h, root, filepath.Join(root, "go.sum"), false)
	for _, d := range strings.Split(strings.TrimSpace(string(dirs)), "\n") {
		if strings.HasPrefix(d, root+string(filepath.Separator)) {
			hashFiles(t, h, root, d, false)
		}
	}
	out := cachePath(t, filepath.Base(pkgDir), h)
	if _, err := os.Stat(out); err != nil {
		tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", tmp, "./"+pkgDir)
		cmd.Dir = root
		cmd.Env = wasmEnv()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkgDir, err, b)
		}
		if err := os.Rename(tmp, out); err != nil {
			t.Fatal(err)
		}
	}
	built[pkgDir] = out
	return out
}

func wasmEnv() []string { return append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm") }

// hashFiles adds path (a file, or a directory's files; below it too when
// recursive) to h, names and contents. Only Go sources and module files
// count for non-recursive directories; recursive walks take every file.
func hashFiles(t testing.TB, h hash.Hash, root, path string, recursive bool) {
	t.Helper()
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
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
	if err != nil {
		t.Fatal(err)
	}
}

// cachePath is where a build keyed by h is kept.
func cachePath(t testing.TB, name string, h hash.Hash) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cache = filepath.Join(cache, "sluice-test-wasm")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(cache, name+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
}

// CompileCacheDir is a wazero compilation cache shared by every test host
// (plugin.HostOptions.CacheDir), so a module compiles once per machine
// rather than once per test relay; compiling is slow under -race.
func CompileCacheDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "sluice-test-wazero")
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("go", "env", "GOMOD")
	b, err := cmd.Output()
	gomod := string(bytes.TrimSpace(b))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("wasmtest: not inside the module (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod)
}
