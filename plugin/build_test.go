package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// buildWasm compiles the Go plugin in dir (relative to this package) once
// per test binary, caching the result under the user cache directory keyed
// by a hash of the plugin's and the SDK's sources.
func buildWasm(t testing.TB, dir string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[dir]; ok {
		return p
	}
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	for _, root := range []string{dir, "../sdk", "../go.mod", "../go.sum"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".mod") || strings.HasSuffix(p, ".sum") {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				h.Write([]byte(p))
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
	out := filepath.Join(cache, filepath.Base(dir)+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
	if _, err := os.Stat(out); err != nil {
		tmp := out + ".tmp" + strings.ReplaceAll(t.Name(), "/", "_")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", tmp, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", dir, err, b)
		}
		if err := os.Rename(tmp, out); err != nil {
			t.Fatal(err)
		}
	}
	built[dir] = out
	return out
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)
