//go:build !builtins

package builtin

import "io/fs"

// A development build embeds no module: Module builds them from source.
var embedded fs.FS
