// Package pluginconf reads a built-in filter's configuration (its
// `config = { ... }` block, from sdk.Config) once per instance: at init,
// where a bad configuration refuses to load (AtInit), or on first use,
// where the operator's on_error decides what a bad one does (Lazy).
package pluginconf

import (
	"errors"
	"fmt"
	"os"

	"github.com/sluice-mail/sluice/sdk"
)

// AtInit reads and parses the configuration; call it from init. A
// configuration that cannot be read or parsed makes the instance refuse
// to load: the reason goes to stderr as "FILTER: invalid configuration:
// ...", which the relay logs with the filter's name, and init panics with
// the same words. Outside the sandbox (host-side tests) there is no
// configuration, and it returns nil.
func AtInit[T any](filter string, parse func(raw []byte) (*T, error)) *T {
	js, err := sdk.Config()
	if errors.Is(err, sdk.ErrNotInSandbox) {
		return nil
	}
	var v *T
	if err == nil {
		v, err = parse(js)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: invalid configuration: %v\n", filter, err)
		panic(filter + ": invalid configuration: " + err.Error())
	}
	return v
}

// Lazy is a configuration read from the host and parsed on first use: it
// never changes during an instance's life, and parsing (RSA keys above
// all) is too costly to repeat per message.
type Lazy[T any] struct {
	v   *T
	err error
}

// Load returns the parsed configuration, or the error parse gave, which
// stays; when the host cannot give the configuration, the next call asks
// again. A configuration that fails to parse is never kept.
func (c *Lazy[T]) Load(parse func(raw []byte) (*T, error)) (*T, error) {
	if c.v == nil && c.err == nil {
		raw, err := sdk.Config()
		if err != nil {
			return nil, err
		}
		c.v, c.err = parse(raw)
		if c.err != nil {
			c.v = nil
		}
	}
	return c.v, c.err
}
