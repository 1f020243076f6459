package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// skipStatus is the exit status a build script uses to say its toolchain
// is not installed (the convention of automake's test drivers).
const skipStatus = 77

// BuildScript builds a plugin written in another language by running the
// executable script (relative to the module root, e.g.
// "examples/rust-filter/build.sh") with the output path as its argument.
// The result is cached, keyed by every file in the script's directory. A
// script exiting 77 skips the test with the script's message.
func BuildScript(t testing.TB, script string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[script]; ok {
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(filepath.Join(root, script))
	h := sha256.New()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p[len(root):], len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cache = filepath.Join(cache, "sluice-test-wasm")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	name := strings.ReplaceAll(filepath.Dir(script), string(filepath.Separator), "-")
	out := filepath.Join(cache, name+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
	if _, err := os.Stat(out); err != nil {
		tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
		cmd := exec.Command(filepath.Join(root, script), tmp)
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == skipStatus {
			t.Skipf("%s: %s", script, strings.TrimSpace(string(b)))
		}
		if err != nil {
			t.Fatalf("building with %s: %v\n%s", script, err, b)
		}
		if err := os.Rename(tmp, out); err != nil {
			t.Fatal(err)
		}
	}
	built[script] = out
	return out
}
