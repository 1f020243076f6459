package authmail

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/sdk"
)

func TestASCIIDomain(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"example.com", "example.com", true},
		{"Example.COM.", "example.com", true},
		{"bücher.example", "xn--bcher-kva.example", true},
		{"BÜCHER.Example.", "xn--bcher-kva.example", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"_dmarc.bücher.example", "_dmarc.xn--bcher-kva.example", true},
		{"sel._domainkey.bücher.example", "sel._domainkey.xn--bcher-kva.example", true},
		{"192.0.2.1", "192.0.2.1", true},
		{"", "", true},
		{"bad\u00a0space.example", "bad\u00a0space.example", false}, // U+00A0 is not allowed in a label
		{"\u200d.example", "\u200d.example", false},                 // a lone joiner
	} {
		got, ok := ASCIIDomain(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ASCIIDomain(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFromDomain(t *testing.T) {
	for _, tt := range []struct{ from, want string }{
		{"Alice <alice@Example.com>", "example.com"},
		{"a@bücher.example", "xn--bcher-kva.example"},
		{"Jörg <jörg@BÜCHER.example>", "xn--bcher-kva.example"},
		{"a@\u200d.example", ""}, // not a valid IDN: no domain to look up
		{"a@example.com, b@example.com", ""},
	} {
		if got := FromDomain(sdk.Header{{Name: "From", Value: tt.from}}); got != tt.want {
			t.Errorf("FromDomain(%q) = %q, want %q", tt.from, got, tt.want)
		}
	}
}

// TestFormatAuthResultsIDN: domains come out in A-labels in any message;
// a UTF-8 local part stays in an SMTPUTF8 message and is left out of
// another, with the rest of its result and the other results kept.
func TestFormatAuthResultsIDN(t *testing.T) {
	results := func() []authres.Result {
		return []authres.Result{
			&authres.SPFResult{Value: authres.ResultPass, From: "jörg@bücher.example", Helo: "mx.bücher.example"},
			&authres.DKIMResult{Value: authres.ResultPass, Domain: "Bücher.example", Identifier: "@bücher.example"},
			&authres.DKIMResult{Value: authres.ResultFail, Domain: "bücher.example", Identifier: "jörg@bücher.example", Reason: "bad signature"},
			&authres.DMARCResult{Value: authres.ResultPass, From: "bücher.example"},
		}
	}
	for _, tt := range []struct {
		name     string
		smtputf8 bool
		want     []string
		dropped  []string
	}{
		{"without SMTPUTF8", false, []string{
			"spf=pass smtp.helo=mx.xn--bcher-kva.example;",
			"dkim=pass header.d=xn--bcher-kva.example header.i=@xn--bcher-kva.example;",
			"dkim=fail reason=\"bad signature\" header.d=xn--bcher-kva.example;",
			"dmarc=pass header.from=xn--bcher-kva.example",
		}, []string{"spf smtp.mailfrom", "dkim header.i"}},
		{"with SMTPUTF8", true, []string{
			"spf=pass smtp.helo=mx.xn--bcher-kva.example smtp.mailfrom=jörg@xn--bcher-kva.example;",
			"dkim=fail reason=\"bad signature\" header.d=xn--bcher-kva.example header.i=jörg@xn--bcher-kva.example;",
			"dmarc=pass header.from=xn--bcher-kva.example",
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := results()
			v, dropped := FormatAuthResults("relay.test", in, tt.smtputf8)
			flat := strings.ReplaceAll(v, "\r\n\t", " ")
			if !strings.HasPrefix(flat, "relay.test; ") {
				t.Fatalf("value %q", v)
			}
			for _, w := range tt.want {
				if !strings.Contains(flat, w) {
					t.Errorf("value lacks %q:\n%s", w, flat)
				}
			}
			if !tt.smtputf8 && !hdrtext.ASCII(v) {
				t.Errorf("raw UTF-8 without SMTPUTF8: %q", v)
			}
			if len(dropped) != len(tt.dropped) {
				t.Fatalf("dropped %q, want %q", dropped, tt.dropped)
			}
			for i, d := range tt.dropped {
				if !strings.HasPrefix(dropped[i], d+" left out: ") {
					t.Errorf("dropped[%d] = %q, want %q", i, dropped[i], d)
				}
			}
			if in[0].(*authres.SPFResult).From != "jörg@bücher.example" {
				t.Error("the caller's results were changed")
			}
		})
	}
}

// TestFormatAuthResultsBadValues: a property the host would refuse goes,
// whatever the message; the result it belonged to stays.
func TestFormatAuthResultsBadValues(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    authres.Result
		want string
	}{
		{"control character", &authres.DKIMResult{Value: authres.ResultFail, Domain: "example.com", Identifier: "a\x01b@example.com"}, "dkim=fail header.d=example.com"},
		{"overlong i=", &authres.DKIMResult{Value: authres.ResultPass, Domain: "example.com", Identifier: strings.Repeat("a", 2000) + "@example.com"}, "dkim=pass header.d=example.com"},
		{"invalid IDN", &authres.DMARCResult{Value: authres.ResultNone, From: "\u200d.example"}, "dmarc=none"},
		{"C1 control", &authres.SPFResult{Value: authres.ResultNone, Helo: "a\u0085.example"}, "spf=none"},
	} {
		for _, smtputf8 := range []bool{false, true} {
			v, dropped := FormatAuthResults("relay.test", []authres.Result{tt.r}, smtputf8)
			if got := strings.TrimSpace(strings.ReplaceAll(v, "\r\n\t", " ")); got != "relay.test; "+tt.want || len(dropped) != 1 {
				t.Errorf("%s (smtputf8 %v): %q, dropped %q; want %q and one drop", tt.name, smtputf8, got, dropped, tt.want)
			}
		}
	}
}

// TestForgedAuthResultsIDN: a forgery that names this relay in U-labels
// is recognised as well.
func TestForgedAuthResultsIDN(t *testing.T) {
	h := sdk.Header{
		{Name: "Authentication-Results", Value: "Relais.Bücher.example; spf=pass"},
		{Name: "Authentication-Results", Value: "relais.xn--bcher-kva.example; dkim=pass"},
		{Name: "Authentication-Results", Value: "other.example; dkim=pass"},
	}
	if got := ForgedAuthResults(h, "relais.xn--bcher-kva.example"); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("forged ranks %v, want [1 2]", got)
	}
}
