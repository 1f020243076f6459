// Package wasmtest builds Go filter plugins to WebAssembly for tests, so
// that `go test ./...` works on a clean clone. Builds are cached under the
// user cache directory, keyed by the Go version and a hash of the plugin's
// sources, the SDK and go.mod/go.sum.
package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	built = map[string]string{}
)

// Build compiles the plugin in pkgDir (a path relative to the module root,
// e.g. "plugin/testdata/behave") and returns the .wasm path.
func Build(t testing.TB, pkgDir string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkgDir]; ok {
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	for _, rel := range []string{pkgDir, "sdk", "go.mod", "go.sum"} {
		err := filepath.WalkDir(filepath.Join(root, rel), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".mod") || strings.HasSuffix(p, ".sum") {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				h.Write([]byte(p[len(root):]))
				h.Write(b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cache = filepath.Join(cache, "sluice-test-wasm")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(cache, filepath.Base(pkgDir)+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
	if _, err := os.Stat(out); err != nil {
		tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", tmp, "./"+pkgDir)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
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

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
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
