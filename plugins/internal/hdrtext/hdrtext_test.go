package hdrtext

import (
	"mime"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/hdrrule"
)

func TestText(t *testing.T) {
	long := strings.Repeat("Grüße aus Köln, ", 56) // 1008 bytes, ~3000 encoded
	for _, c := range []struct {
		name     string
		in       string
		col      int
		smtputf8 bool
		encoded  bool
	}{
		{"ascii", "Hello there", 9, false, false},
		{"ascii with encoded-word", "=?utf-8?q?caf=C3=A9?=", 9, false, false},
		{"utf-8 without SMTPUTF8", "Rechnung für Sie", 16, false, true},
		{"utf-8 with SMTPUTF8", "Rechnung für Sie", 16, true, false},
		{"cjk", "お知らせ：重要なお知らせがあります", 16, false, true},
		{"question marks and underscores", "é?=_ ?= =?", 9, false, true},
		{"long", long, 16, false, true},
		{"late column", "ü" + strings.Repeat("x", 80), 900, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := Text(c.in, c.col, c.smtputf8)
			if !c.encoded {
				if out != c.in {
					t.Fatalf("Text changed %q to %q", c.in, out)
				}
				return
			}
			if !ASCII(out) {
				t.Fatalf("not ASCII: %q", out)
			}
			// As the host sees it: the value after a name that fills col.
			name := strings.Repeat("X", c.col-2)
			if err := hdrrule.Check(name, out, false); err != nil {
				t.Fatalf("host would refuse %q: %v", out, err)
			}
			for i, l := range strings.Split(out, "\r\n") {
				if i > 0 && len(l) > 76 {
					t.Errorf("line %d of %d bytes: %q", i, len(l), l)
				}
			}
			var dec mime.WordDecoder
			got, err := dec.DecodeHeader(strings.ReplaceAll(out, "\r\n", ""))
			if err != nil || got != c.in {
				t.Errorf("decodes to %q, %v; want %q", got, err, c.in)
			}
		})
	}
}

func TestPhrase(t *testing.T) {
	var dec mime.WordDecoder
	for _, c := range []struct{ in, enc string }{
		{"José Mueller", "?q?"},
		{"Müller, José", "?b?"}, // a comma is not allowed in a Q word of a phrase
		{"Zoë (work)", "?b?"},
		{"Ünal <x>", "?b?"},
		{strings.Repeat("Ä", 400), "?b?"},
	} {
		out := Phrase(c.in, 6)
		if !strings.Contains(out, c.enc) {
			t.Errorf("Phrase(%q) = %q, want %s encoding", c.in, out, c.enc)
		}
		if err := hdrrule.Check("From", out, false); err != nil {
			t.Errorf("Phrase(%q) = %q: %v", c.in, out, err)
		}
		if got, err := dec.DecodeHeader(strings.ReplaceAll(out, "\r\n", "")); err != nil || got != c.in {
			t.Errorf("Phrase(%q) decodes to %q, %v", c.in, got, err)
		}
	}
}

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"folded\r\n line", "folded line"},
		{"tab\tkept, bell\a and DEL\x7f dropped", "tab\tkept, bell and DEL dropped"},
		{"NEL\u0085 LS\u2028 PS\u2029 gone", "NEL LS PS gone"},
		{"Caf\xe9 latin-1 kept", "Caf\xe9 latin-1 kept"},
		{"replacement \ufffd kept", "replacement \ufffd kept"},
	} {
		if got := Clean(c.in); got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSMTPUTF8(t *testing.T) {
	if SMTPUTF8(nil) || SMTPUTF8(map[string]string{"BODY": "8BITMIME"}) {
		t.Error("SMTPUTF8 without the parameter")
	}
	if !SMTPUTF8(map[string]string{"smtputf8": ""}) || !SMTPUTF8(map[string]string{"SMTPUTF8": ""}) {
		t.Error("SMTPUTF8 missed")
	}
}
