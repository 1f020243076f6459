package mailbox

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n-len("@example.com")) + "@example.com" }
	for _, tt := range []struct {
		a  string
		ok bool
	}{
		{"a@example.com", true},
		{"Also.OK+tag@Example.COM", true},
		{"!#$%&'*+-/=?^_`{|}~@example.com", true},
		{"a/b@local.test", true},       // a maildir path check is the transport's
		{"..@local.test", true},        // dots are not held to Dot-string's places
		{"john..doe@example.jp", true}, // (some providers hand these out)
		{"jörg@bücher.example", true},  // SMTPUTF8: UTF-8 local part and U-labels
		{"a@xn--bcher-kva.example", true},
		{"postmaster@[192.0.2.1]", true},
		{"a@[IPv6:2001:db8::1]", true},
		{long(254), true},
		{strings.Repeat("s", 200) + "@example.com", true}, // local part over 64: SRS, VERP
		{long(255), false},                                // RFC 5321 4.5.3.1.3: the path would pass 256
		{"", false},
		{"postmaster", false},
		{"@example.com", false},
		{"a@", false},
		{"<a@example.com>", false},
		{"A <a@example.com>", false},
		{"a@example.com\r\nRCPT TO:<x@y>", false},
		{"john doe@example.com", false}, // go-smtp's form of "john doe"@...: cannot be written back
		{"a\"b@example.com", false},
		{"a,b@example.com", false},
		{"a@b@example.com", false},
		{"a\x7f@example.com", false},
		{"a\u0085@example.com", false}, // C1 control
		{"a\u00a0b@example.com", false},
		{"a@example.com.", false},
		{"a@exa..mple.com", false},
		{"a@-example.com", false},
		{"a@example-.com", false},
		{"a@exam_ple.com", false},
		{"a@exa mple.com", false},
		{"a@[192.0.2.1", false},
		{"a@[]", false},
		{"a@[1.2.3.4]x", false},
		{"a@\xff.example", false},
	} {
		if err := Check(tt.a); (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tt.a, err, tt.ok)
		}
		if Valid(tt.a) != tt.ok {
			t.Errorf("Valid(%q) = %v", tt.a, !tt.ok)
		}
	}
}

func TestCheckDomain(t *testing.T) {
	for _, tt := range []struct {
		d  string
		ok bool
	}{
		{"example.com", true},
		{"a-b.example", true},
		{"bücher.example", true},
		{"[192.0.2.1]", true},
		{"", false},
		{".example", false},
		{"example.com.", false},
		{"a_b.example", false},
		{"a<b.example", false},
		{strings.Repeat("a", 63) + ".example", true},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "bb", false}, // 256 bytes
	} {
		if err := CheckDomain(tt.d); (err == nil) != tt.ok {
			t.Errorf("CheckDomain(%q) = %v, want ok=%v", tt.d, err, tt.ok)
		}
	}
}
