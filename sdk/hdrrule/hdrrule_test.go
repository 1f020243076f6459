package hdrrule

import (
	"strings"
	"testing"
)

// TestCheck: the rule's edges (the host's hostile cases are in
// plugin/headers_test.go).
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		v        string
		smtputf8 bool
		ok       bool
	}{
		{"plain", false, true},
		{"folded\r\n value", false, true},
		{"bare\nLF", false, false},
		{"blank\r\n \r\n fold", false, false},
		{"caf\u00e9", false, false},
		{"caf\u00e9", true, true},
		{"caf\xe9", true, false},
		{"NEL\u0085", true, false},
		{"LS\u2028", true, false},
		{strings.Repeat("x", 998-len("Subject: ")), false, true},
		{strings.Repeat("x", 999-len("Subject: ")), false, false},
		{strings.Repeat("x", 9) + "\r\n " + strings.Repeat("y", 997), false, true},
	} {
		if err := Check("Subject", c.v, c.smtputf8); (err == nil) != c.ok {
			t.Errorf("Check(%.40q, smtputf8 %v) = %v, want ok %v", c.v, c.smtputf8, err, c.ok)
		}
	}
}
