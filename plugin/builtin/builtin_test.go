package builtin

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestNamesArePlugins: Names lists exactly the plugin commands under
// plugins/ (a new plugin must be added, a removed one dropped).
func TestNamesArePlugins(t *testing.T) {
	root, err := SourceRoot()
	if err != nil {
		t.Fatal(err)
	}
	mains, err := filepath.Glob(filepath.Join(root, "plugins", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, m := range mains {
		dirs = append(dirs, filepath.Base(filepath.Dir(m)))
	}
	names := slices.Clone(Names)
	slices.Sort(names)
	slices.Sort(dirs)
	if !slices.Equal(names, dirs) {
		t.Errorf("Names %q, plugins/*/main.go %q", names, dirs)
	}
}

// TestModule: the module of a built-in is Wasm, embedded or (in a
// development build, as here under plain `go test`) built from source into
// the user cache with a log line saying so.
func TestModule(t *testing.T) {
	if _, err := Module("nope", nil); err == nil || !strings.Contains(err.Error(), `no built-in filter is named "nope"`) {
		t.Errorf("unknown name: %v", err)
	}
	if !Embedded() {
		if testing.Short() {
			t.Skip("builds a plugin from source")
		}
		// A user cache of its own, keeping the Go build cache (and so its speed).
		gocache, err := exec.Command("go", "env", "GOCACHE").Output()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		t.Setenv("HOME", t.TempDir())
	}
	var logs bytes.Buffer
	wasm, err := Module("rewrite", hclog.New(&hclog.LoggerOptions{Output: &logs}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		t.Fatalf("not a Wasm module: % x", wasm[:min(8, len(wasm))])
	}
	if Embedded() {
		return
	}
	if !strings.Contains(logs.String(), "building built-in filter from source") {
		t.Errorf("no log line about the build:\n%s", logs.String())
	}
	cache, _ := os.UserCacheDir()
	if _, err := os.Stat(filepath.Join(cache, "sluice", "builtin", "rewrite.wasm")); err != nil {
		t.Error(err)
	}
}
