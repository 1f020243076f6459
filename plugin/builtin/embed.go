//go:build builtins

package builtin

import (
	"embed"
	"io/fs"
)

// The modules `go generate` wrote; without them this does not compile
// ("no matching files found"), so a release build cannot lack them all.
//
//go:embed wasm/*.wasm.gz
var embeddedFS embed.FS

var embedded fs.FS = embeddedFS
