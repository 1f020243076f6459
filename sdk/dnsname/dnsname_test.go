package dnsname

import "testing"

func TestASCII(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM.", "example.com"},
		{"Bücher.example.", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"zen.spamhaus.org", "zen.spamhaus.org"},
		{"_dmarc.example", "_dmarc.example"}, // ASCII: kept as it is
		{"a\u0080b.example", "a\u0080b.example"},
		{"", ""},
		{".", ""},
	} {
		if got := ASCII(tt.in); got != tt.want {
			t.Errorf("ASCII(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
