// Package pluginconf reads a built-in filter's configuration (its
// `config = { ... }` block, from sdk.Config) once per instance, at init,
// where a bad configuration refuses to load (AtInit), and the sizes in it
// (Size).
package pluginconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/sluice-mail/sluice/internal/bytesize"
	"github.com/sluice-mail/sluice/sdk"
)

// AtInit reads and parses the configuration; call it from init. A
// configuration that cannot be read or parsed makes the instance refuse
// to load: the reason goes to stderr as "FILTER: invalid configuration:
// ...", which the relay logs with the filter's name, and the instance
// exits (proc_exit 1; a panic would add a goroutine dump to the log).
// Outside the sandbox (host-side tests) there is no configuration, and it
// returns nil.
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
		os.Exit(1)
	}
	return v
}

// Size reads a positive byte count from a config value: a JSON number of
// bytes, or a string with a unit in the syntax of sluice's configuration
// file ("10MiB", "5MB"; see package bytesize).
func Size(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		v, err := n.Int64()
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("%s: want a positive whole number of bytes", raw)
		}
		return v, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("%s: want a number of bytes or a string such as \"10MiB\"", raw)
	}
	v, err := bytesize.Parse(s)
	if err != nil {
		return 0, err
	}
	if v <= 0 {
		return 0, fmt.Errorf("size %q: want a positive size", s)
	}
	return v, nil
}
