package wasmtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// TestCachedBuildsOnce: callers that want the same entry at once (as test
// processes of `go test ./...` do) share one build, and none of them sees
// the file before it is complete.
func TestCachedBuildsOnce(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	h := sha256.New()
	h.Write([]byte("key"))
	var builds atomic.Int32
	build := func(tmp string) error {
		builds.Add(1)
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		// Slowly, so that the others arrive while it writes.
		for range 5 {
			time.Sleep(10 * time.Millisecond)
			f.WriteString("chunk")
		}
		return nil
	}
	var wg sync.WaitGroup
	paths := make([]string, 8)
	for i := range paths {
		wg.Go(func() {
			p, err := cached("dir/plug", ".wasm", h, build)
			if err != nil {
				t.Error(err)
				return
			}
			if b, err := os.ReadFile(p); err != nil || string(b) != strings.Repeat("chunk", 5) {
				t.Errorf("read %q, %v", b, err)
			}
			paths[i] = p
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
	for _, p := range paths[1:] {
		if p != paths[0] {
			t.Errorf("paths differ: %q, %q", p, paths[0])
		}
	}
	if !strings.HasPrefix(filepath.Base(paths[0]), "dir-plug-") {
		t.Errorf("entry %q not named after the package", paths[0])
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(paths[0]), "*.tmp"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestCachedFailureNotKept: a failed or skipped build leaves nothing in the
// cache, so the next run tries again.
func TestCachedFailureNotKept(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	h := sha256.New()
	for _, fail := range []error{errors.New("compile error"), skipError("no toolchain")} {
		if _, err := cached("p", ".wasm", h, func(string) error { return fail }); err != fail {
			t.Errorf("got %v, want %v", err, fail)
		}
	}
	if _, err := cached("p", ".wasm", h, func(string) error { return nil }); err == nil || !strings.Contains(err.Error(), "wrote no module") {
		t.Errorf("an empty output was accepted: %v", err)
	}
	var built bool
	if _, err := cached("p", ".wasm", h, func(tmp string) error { built = true; return os.WriteFile(tmp, []byte("x"), 0o644) }); err != nil || !built {
		t.Errorf("retry: built %v, %v", built, err)
	}
}

// TestLockExcludes: the file lock keeps a second holder (another open file,
// as in another process) out until the first lets go.
func TestLockExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := lockFile(p)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		unlock2, err := lockFile(p)
		if err != nil {
			t.Error(err)
		} else {
			unlock2()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("second lock taken while the first is held")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("second lock not taken after the first was released")
	}
}

// TestGuestEnv: the host's build flags and target never reach a guest
// build, not even those `go env -w` stored (an empty GOFLAGS would let them
// through).
func TestGuestEnv(t *testing.T) {
	t.Setenv("GOFLAGS", "-race -cover")
	t.Setenv("GOOS", "linux")
	t.Setenv("CGO_ENABLED", "1")
	seen := map[string][]string{}
	for _, kv := range guestEnv() {
		k, v, _ := strings.Cut(kv, "=")
		seen[k] = append(seen[k], v)
	}
	for k, want := range map[string]string{"GOFLAGS": "-buildvcs=false", "GOOS": "wasip1", "GOARCH": "wasm", "CGO_ENABLED": "0"} {
		if len(seen[k]) != 1 || seen[k][0] != want {
			t.Errorf("%s = %q, want only %q", k, seen[k], want)
		}
	}
}

// TestInProcessWazeroVersion: precompile's helper must file its entries
// under the version string wazero uses in a test binary, or the hosts of
// the tests would never find them.
func TestInProcessWazeroVersion(t *testing.T) {
	dir := t.TempDir()
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	want := "wazero-" + inProcessWazeroVersion() + "-" + runtime.GOARCH + "-" + runtime.GOOS
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != want {
		t.Errorf("wazero made %v, want %s", entries, want)
	}
}

// TestGoModWazeroVersion: go.mod's wazero version is found, and it is what
// a binary built from this module (here, a main package's test binary
// would do too) reports.
func TestGoModWazeroVersion(t *testing.T) {
	v := goModWazeroVersion()
	if !strings.HasPrefix(v, "v1.") {
		t.Fatalf("go.mod's wazero version %q", v)
	}
	vs := helperVariants()
	if vs[0] != inProcessWazeroVersion() || (len(vs) == 2) != (vs[0] != v) {
		t.Errorf("variants %q for in-process %q and go.mod %q", vs, inProcessWazeroVersion(), v)
	}
}
