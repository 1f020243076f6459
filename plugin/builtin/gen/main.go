// Command gen builds every built-in filter (plugins/<name>) to WebAssembly
// with the release flags and writes each, gzip-compressed, to
// plugin/builtin/wasm/<name>.wasm.gz for a build with -tags builtins to
// embed. `go generate ./plugin/builtin` runs it; scripts/build-release.sh
// runs that before building the binary.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/plugin/builtin"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := builtin.SourceRoot()
	if err != nil {
		return err
	}
	outDir := filepath.Join(root, "plugin", "builtin", "wasm")
	tmpDir, err := os.MkdirTemp("", "sluice-builtin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	// Files of built-ins that no longer exist must not be embedded.
	old, _ := filepath.Glob(filepath.Join(outDir, "*.wasm.gz"))
	for _, p := range old {
		if !builtin.Known(strings.TrimSuffix(filepath.Base(p), ".wasm.gz")) {
			os.Remove(p)
		}
	}
	for _, name := range builtin.Names {
		start := time.Now()
		wasm := filepath.Join(tmpDir, name+".wasm")
		args := append(append([]string{"build"}, builtin.BuildFlags...), "-o", wasm, "./plugins/"+name)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = builtin.BuildEnv()
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building plugins/%s: %w", name, err)
		}
		raw, err := os.ReadFile(wasm)
		if err != nil {
			return err
		}
		// No name or time in the gzip header: the same source gives the same bytes.
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return err
		}
		out := filepath.Join(outDir, builtin.FileName(name))
		if err := os.WriteFile(out+".tmp", gz.Bytes(), 0o644); err != nil {
			return err
		}
		if err := os.Rename(out+".tmp", out); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%-11s %6.1f MB wasm, %5.1f MB gzip, %s\n", name,
			float64(len(raw))/1e6, float64(gz.Len())/1e6, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}
