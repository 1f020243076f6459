package plugin

import (
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// TestHostileHeaderValues: header changes that could end the header early
// for some parser, break a line where only some readers break it, or carry
// 8-bit text into a message that is not SMTPUTF8 make the result invalid
// (the filter's on_error applies); UTF-8 text passes only with SMTPUTF8.
func TestHostileHeaderValues(t *testing.T) {
	ascii := &Txn{MailParams: map[string]string{"SIZE": "100"}}
	utf8 := &Txn{MailParams: map[string]string{"SMTPUTF8": ""}}
	tests := []struct {
		name, hname, value string
		okASCII, okUTF8    bool
	}{
		{"plain", "X-A", "hello", true, true},
		{"folded", "X-A", "a\r\n b\r\n\tc", true, true},
		{"encoded word", "Subject", "=?utf-8?q?caf=C3=A9?=", true, true},
		{"whitespace-only continuation", "X-A", "a\r\n \r\n b", false, false},
		{"whitespace-only continuation, tabs", "X-A", "a\r\n\t\t\r\n\tb", false, false},
		{"whitespace-only last line", "X-A", "a\r\n ", false, false},
		{"whitespace-only last line, several", "X-A", "a\r\n \t ", false, false},
		{"continuation then header", "X-A", "a\r\n \r\nBcc: x@example.com", false, false},
		{"raw UTF-8", "Subject", "café", false, true},
		{"raw UTF-8 folded", "Subject", "caf\r\n é", false, true},
		{"U+2028 line separator", "Subject", "a\u2028Bcc: x@example.com", false, false},
		{"U+2029 paragraph separator", "Subject", "a\u2029b", false, false},
		{"U+0085 next line", "Subject", "a\u0085Bcc: x@example.com", false, false},
		{"C1 control U+009B (CSI)", "Subject", "a\u009b31m", false, false},
		{"Latin-1 byte", "Subject", "caf\xe9", false, false},
		{"overlong slash", "Subject", "\xc0\xaf", false, false},
		{"ESC", "Subject", "a\x1b[31m", false, false},
		{"VT", "Subject", "a\vb", false, false},
		{"FF", "Subject", "a\fb", false, false},
		{"DEL", "Subject", "a\x7f", false, false},
		{"bare CR", "Subject", "a\rBcc: x@example.com", false, false},
		{"CR CR LF", "Subject", "a\r\r\n b", false, false},
		{"UTF-8 name", "Sübject", "x", false, false},
		{"name with U+2028", "X\u2028A", "x", false, false},
		{"name with NEL", "X\u0085A", "x", false, false},
		{"long UTF-8 line", "Subject", strings.Repeat("é", 500), false, false},
		{"UTF-8 line at the limit", "S", strings.Repeat("é", (maxLineBytes-3)/2), false, true},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			txn  *Txn
			ok   bool
			kind string
		}{{ascii, tt.okASCII, "ascii"}, {nil, tt.okASCII, "no txn"}, {utf8, tt.okUTF8, "smtputf8"}} {
			for _, op := range []string{abi.HeaderAdd, abi.HeaderPrepend, abi.HeaderSet} {
				_, err := convertChanges(&abi.Changes{Headers: []abi.HeaderChange{{Op: op, Name: tt.hname, Value: tt.value}}}, c.txn, nil)
				if (err == nil) != c.ok {
					t.Errorf("%s, %s, %s %q: %q: err = %v, want ok=%t", tt.name, c.kind, op, tt.hname, tt.value, err, c.ok)
				}
			}
		}
	}
}
