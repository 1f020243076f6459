package abi

import (
	"regexp"
	"strings"
	"testing"
)

// routePattern is the rule as ABI.md writes it; ValidRouteName must agree.
var routePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

var routeSamples = []string{
	"", "a", "Z", "0", "paris-lmtp", "mx.example.com", "a_b", "a..b",
	"-a", ".a", "_a", "a-", "a b", "a/b", "a@b", "é", "a\n", "\na",
	strings.Repeat("a", 64), strings.Repeat("a", 65), "a" + strings.Repeat("-", 63),
}

func TestValidRouteName(t *testing.T) {
	for _, s := range routeSamples {
		if got, want := ValidRouteName(s), routePattern.MatchString(s); got != want {
			t.Errorf("ValidRouteName(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzValidRouteName(f *testing.F) {
	for _, s := range routeSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidRouteName(s), routePattern.MatchString(s); got != want {
			t.Errorf("ValidRouteName(%q) = %v, want %v", s, got, want)
		}
	})
}
