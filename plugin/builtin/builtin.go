// Package builtin supplies the WebAssembly modules of the filters that ship
// with sluice (plugins/<name>), which a filter block names with
// `builtin = "name"` instead of `wasm = "path"`. They are ordinary plugins:
// the host loads them exactly like a user's module (same ABI, sandbox and
// grants); only where the bytes come from differs.
//
// A release build (scripts/build-release.sh: `go generate ./plugin/builtin`,
// then `go build -tags builtins`) embeds each module, built from the same
// source as the binary and gzip-compressed. A development build (`go run
// ./cmd/sluice`, `go build` without the tag) embeds none: Module then
// builds plugins/<name> from the source tree the binary was built from,
// with the local Go toolchain, into the user cache directory, and says so
// in the log. HACKING.md tells the two apart.
package builtin

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"github.com/hashicorp/go-hclog"
)

//go:generate go run ./gen

// Names are the built-in filters, each the directory plugins/<name>.
var Names = []string{"access", "spam", "virus", "rewrite", "normalize", "attachlink", "dkim", "spf-dmarc"}

// Known reports whether name is a built-in filter.
func Known(name string) bool { return slices.Contains(Names, name) }

// Embedded reports whether this binary carries the built-in modules (a
// release build) rather than building them from source when asked.
func Embedded() bool { return embedded != nil }

// FileName is the name of a built-in's compressed module in wasm/, as the
// generator writes it and the release build embeds it.
func FileName(name string) string { return name + ".wasm.gz" }

// Module returns the WebAssembly module of the built-in filter name: the
// embedded one in a release build, else one built from source (logged on
// log, which may be nil).
func Module(name string, log hclog.Logger) ([]byte, error) {
	if !Known(name) {
		return nil, fmt.Errorf("no built-in filter is named %q", name)
	}
	if embedded == nil {
		return buildFromSource(name, log)
	}
	f, err := embedded.Open("wasm/" + FileName(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("built-in filter %q is missing from this binary: build it with scripts/build-release.sh", name)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return gunzip(f)
}

func gunzip(r io.Reader) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, zr); err != nil {
		return nil, err
	}
	return b.Bytes(), zr.Close()
}
