// Package bytesize reads and writes byte counts such as "35MiB" and "10MB":
// the one syntax for sizes in sluice's configuration file and in the
// built-in filters' config blocks. It has no dependencies, so Wasm plugins
// use it too.
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// units are the multipliers Parse accepts, keyed in lower case. Decimal
// (SI) and binary (IEC) units are both common in mail limits ("10MB" in a
// provider's documentation, "35MiB" for Gmail's 35 MB quota), so both are
// accepted and kept distinct; bare K/M/G are refused as ambiguous.
var units = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// Parse parses a byte count: a non-negative integer with an optional,
// case-insensitive unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
// TiB (powers of 1024), optionally separated by spaces: "1048576", "512KiB",
// "10MB", "35 MiB".
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && '0' <= t[i] && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional unit, such as 1048576, 10MB or 35MiB", s)
	}
	unit := strings.TrimSpace(t[i:])
	mult, ok := units[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB", s, unit)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if errors.Is(err, strconv.ErrRange) || err == nil && n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	return n * mult, nil
}

// Format writes n bytes in the largest binary unit that divides it
// exactly, so that Parse(Format(n)) == n.
func Format(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}
