package wasmtest

import (
	"crypto/sha256"
	"errors"
	"fmt"
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
	root := moduleRoot(t)
	h := sha256.New()
	hashFiles(t, h, root, filepath.Dir(filepath.Join(root, script)), true)
	name := strings.ReplaceAll(filepath.Dir(script), string(filepath.Separator), "-")
	out := cachePath(t, name, h)
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
