package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/plugin/builtin"
)

// TestExampleConfigs runs `sluice check-config` with its plugins on every
// configuration shipped under examples/, as a user who followed the
// README would: each filter's module is built where the file names it
// (from the shared test cache) and each DKIM key it names is made, in a
// copy of the repository's layout; then every filter must load with its
// config. A module path nothing builds, or a key outside the repository,
// fails the test: the example would fail for the user too.
func TestExampleConfigs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and loads the examples' plugins")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(filepath.Join(root, "examples"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".hcl") {
			files = append(files, p)
		}
		return err
	})
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		t.Run(rel, func(t *testing.T) {
			cfg, diags := config.Load(file)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			tree := t.TempDir()
			place := func(p string) string {
				r, err := filepath.Rel(root, p)
				if err != nil || !filepath.IsLocal(r) {
					t.Fatalf("%s names %s, outside the repository: a user's copy cannot have it", rel, p)
				}
				dst := filepath.Join(tree, r)
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					t.Fatal(err)
				}
				return dst
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range cfg.Filters {
				for _, k := range f.SigningKeys {
					writeKey(t, place(k.Path))
				}
				if f.Builtin != "" {
					// A built-in comes from the shared test build of its
					// plugin, not from a build of its own per check-config.
					if !builtin.Known(f.Builtin) {
						t.Fatalf("%s: no built-in filter is named %q", rel, f.Builtin)
					}
					b = builtinLine.ReplaceAllFunc(b, func(line []byte) []byte {
						if string(builtinLine.FindSubmatch(line)[1]) != f.Builtin {
							return line
						}
						return fmt.Appendf(nil, "wasm = %q", wasmtest.Build(t, "plugins/"+f.Builtin))
					})
					continue
				}
				if err := os.Symlink(exampleModule(t, root, f.Wasm), place(f.Wasm)); err != nil && !os.IsExist(err) {
					t.Fatal(err)
				}
			}
			// Secrets the example keeps in files beside it (secrets/).
			secrets := filepath.Join(filepath.Dir(file), "secrets")
			filepath.WalkDir(secrets, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				sb, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				return os.WriteFile(place(p), sb, 0o600)
			})
			copyFile := place(file)
			if err := os.WriteFile(copyFile, b, 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			if code := run([]string{"check-config", copyFile}, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), copyFile+": OK\n") {
				t.Errorf("check-config %s: exit %d\n%s%s", rel, code, stdout.String(), stderr.String())
			}
		})
	}
}

// builtinLine is a filter block's builtin attribute.
var builtinLine = regexp.MustCompile(`builtin\s*=\s*"([a-z-]+)"`)

// exampleModule builds the module an example names at wasm: the Go plugin
// in its directory (plugins/spam/spam.wasm, examples/plugin-tagger/tagger.wasm)
// or what the directory's build.sh makes.
func exampleModule(t *testing.T, root, wasm string) string {
	t.Helper()
	dir, err := filepath.Rel(root, filepath.Dir(wasm))
	if err != nil || !filepath.IsLocal(dir) {
		t.Fatalf("module %s is outside the repository", wasm)
	}
	if _, err := os.Stat(filepath.Join(root, dir, "build.sh")); err == nil {
		return wasmtest.BuildScript(t, filepath.ToSlash(filepath.Join(dir, "build.sh")))
	}
	if b, err := os.ReadFile(filepath.Join(root, dir, "main.go")); err != nil || !strings.Contains(string(b), "package main") {
		t.Fatalf("nothing builds %s: %s has no main package or build.sh", wasm, dir)
	}
	return wasmtest.Build(t, filepath.ToSlash(dir))
}

// writeKey writes a DKIM signing key, as `sluice dkim keygen` does.
func writeKey(t *testing.T, path string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
