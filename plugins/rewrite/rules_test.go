package main

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/abi"
	"github.com/sluice-mail/sluice/sdk/hdrrule"
	"github.com/sluice-mail/sluice/sdk/mailbox"
)

func mustParse(t *testing.T, js string) *Rewriter {
	t.Helper()
	rw, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("Parse(%s): %v", js, err)
	}
	return rw
}

func TestRecipientRules(t *testing.T) {
	rw := mustParse(t, `{
	  "recipients": [
	    {"match": "joe@example.org", "to": "joe@fr.example.org"},
	    {"match": "*@old.example", "to": "*@new.example"},
	    {"regexp": "([a-z]+)\\.([a-z]+)@corp\\.example", "to": "$1@$2.corp.example"},
	    {"match": "a@chain.example", "to": "b@chain.example"},
	    {"match": "b@chain.example", "to": "c@chain.example"},
	    {"match": "*@all.example", "to": "postmaster@all.example"}
	  ],
	  "plus": {"separator": "+"}
	}`)
	for in, want := range map[string]string{
		"joe@example.org":        "joe@fr.example.org",
		"JOE@Example.ORG":        "joe@fr.example.org",
		"ann@old.example":        "ann@new.example",
		"Ann@OLD.example":        "Ann@new.example",
		"ann.sales@corp.example": "ann@sales.corp.example",
		"a@chain.example":        "c@chain.example",
		"joe+news@example.org":   "joe+news@fr.example.org",
		"ann+x@old.example":      "ann+x@new.example",
		"other@example.org":      "other@example.org",
		"x@all.example":          "postmaster@all.example",
		"postmaster@all.example": "postmaster@all.example",
		"a.b.c@corp.example":     "a.b.c@corp.example", // the regexp is anchored
	} {
		got, err := rw.Recipient(in)
		if err != nil || got != want {
			t.Errorf("Recipient(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestPlusStrip(t *testing.T) {
	rw := mustParse(t, `{"recipients": [{"match": "joe@example.org", "to": "joe@fr.example.org"}], "plus": {"separator": "-", "mode": "strip"}}`)
	for in, want := range map[string]string{
		"joe-news@example.org": "joe@fr.example.org",
		"ann-news@example.org": "ann@example.org", // strip: the tag goes even without a rule
		"ann@example.org":      "ann@example.org",
	} {
		if got, err := rw.Recipient(in); err != nil || got != want {
			t.Errorf("Recipient(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestLoopsRefused(t *testing.T) {
	for _, js := range []string{
		`{"recipients": [{"match": "a@x.example", "to": "b@x.example"}, {"match": "b@x.example", "to": "a@x.example"}]}`,
		`{"senders": [{"match": "*@a.example", "to": "*@b.example"}, {"match": "*@b.example", "to": "*@a.example"}]}`,
		`{"recipients": [{"match": "*@a.example", "to": "*@b.example"}, {"match": "x@b.example", "to": "x@a.example"}]}`,
	} {
		_, err := Parse([]byte(js))
		if err == nil || !strings.Contains(err.Error(), "rewrite loop") {
			t.Errorf("Parse(%s) = %v, want a rewrite loop error", js, err)
		}
	}
	// Loops through regexp rules are found at load when a sample address
	// made from a rule's replacement (its captures as "loop-check") loops.
	for _, js := range []string{
		`{"recipients": [{"regexp": "(.*)@a\\.example", "to": "$1@b.example"}, {"regexp": "(.*)@b\\.example", "to": "${1}@a.example"}]}`,
		`{"recipients": [{"regexp": "(.*)@a\\.example", "to": "$1.x@a.example"}]}`, // grows without end
		`{"headers": [{"match": "*@a.example", "to": "*@b.example"}, {"regexp": "(?P<user>.*)@b\\.example", "to": "$user@a.example"}]}`,
		`{"senders": [{"regexp": "(.*)@a\\.example", "to": "boss@b.example"}, {"match": "boss@b.example", "to": "boss@a.example"}]}`,
	} {
		_, err := Parse([]byte(js))
		if err == nil || !strings.Contains(err.Error(), "rewrite loop") {
			t.Errorf("Parse(%s) = %v, want a rewrite loop error", js, err)
		}
	}
	// Rules that chain without a cycle load.
	mustParse(t, `{"recipients": [{"regexp": "(.*)@a\\.example", "to": "$1@b.example"}, {"regexp": "(.*)@b\\.example", "to": "$1@c.example"}]}`)
	// A loop no sample reaches is found at run time.
	rw := mustParse(t, `{"recipients": [{"regexp": "([0-9]+)@a\\.example", "to": "$1@b.example"}, {"regexp": "([0-9]+)@b\\.example", "to": "$1@a.example"}]}`)
	if _, err := rw.Recipient("123@a.example"); err == nil || !strings.Contains(err.Error(), "rewrite loop") {
		t.Errorf("regexp loop at run time: %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	for js, want := range map[string]string{
		`{"recipient": []}`:                          `unknown field "recipient"`,
		`{"recipients": [{"match": "a@b.example"}]}`: "to is required",
		`{"recipients": [{"match": "a@b.example", "regexp": "x", "to": "c@d.example"}]}`: "not both",
		`{"recipients": [{"regexp": "(", "to": "c@d.example"}]}`:                         "missing closing",
		`{"recipients": [{"match": "a@b.example", "to": "*@d.example"}]}`:                "match must be *@domain",
		`{"recipients": [{"match": "not an address", "to": "c@d.example"}]}`:             "not an address",
		`{"reroute": [{"match": "*@a.example", "route": "bad route"}]}`:                  "not a domain block name",
		`{"dkim": "maybe"}`:                    "want skip or rewrite",
		`{"plus": {"separator": "++"}}`:        "one character",
		`{"header_fields": ["Subject"]}`:       "not an address field",
		`{"masquerade": {"domains": ["a b"]}}`: "not a domain",
	} {
		_, err := Parse([]byte(js))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", js, err, want)
		}
	}
	if _, err := Parse(nil); err != nil {
		t.Errorf("empty config: %v", err)
	}
}

func TestMasquerade(t *testing.T) {
	rw := mustParse(t, `{"masquerade": {"domains": ["example.com"], "exceptions": ["root"]}}`)
	for in, want := range map[string]string{
		"joe@host.example.com":  "joe@example.com",
		"joe@a.b.example.com":   "joe@example.com",
		"joe@example.com":       "joe@example.com",
		"root@host.example.com": "root@host.example.com",
		"joe@notexample.com":    "joe@notexample.com",
		"":                      "",
	} {
		if got, _ := rw.Sender(in); got != want {
			t.Errorf("Sender(%q) = %q, want %q", in, got, want)
		}
	}
}

func hdr(kv ...string) sdk.Header {
	var h sdk.Header
	for i := 0; i < len(kv); i += 2 {
		h = append(h, abi.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return h
}

func TestPlan(t *testing.T) {
	rw := mustParse(t, `{
	  "recipients": [{"match": "*@old.example", "to": "*@new.example"}, {"match": "dup@x.example", "to": "ann@new.example"}],
	  "senders": [{"match": "*@old.example", "to": "*@new.example"}],
	  "headers": [{"match": "*@old.example", "to": "*@new.example"}],
	  "reroute": [{"match": "*@lmtp.example", "route": "store"}, {"match": "*@new.example", "route": "never"}]
	}`)
	txn := sdk.Txn{From: "boss@old.example", Recipients: []sdk.Recipient{
		{Addr: "ann@old.example"}, {Addr: "dup@x.example"}, {Addr: "kim@lmtp.example"}, {Addr: "z@else.example"}}}
	h := hdr("From", `"The Boss" <boss@old.example>`, "To", "ann@old.example,\r\n kim@lmtp.example", "Subject", "hi")
	p, err := rw.MakePlan(txn, h)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sender == nil || *p.Sender != "boss@new.example" {
		t.Errorf("sender %v", p.Sender)
	}
	if len(p.Replace) != 1 || p.Replace[0] != [2]string{"ann@old.example", "ann@new.example"} {
		t.Errorf("replace %v", p.Replace)
	}
	if len(p.Remove) != 1 || p.Remove[0] != "dup@x.example" {
		t.Errorf("remove %v (dup@x.example became a duplicate of ann@new.example)", p.Remove)
	}
	if len(p.Reroute) != 1 || p.Reroute[0] != [2]string{"kim@lmtp.example", "store"} {
		t.Errorf("reroute %v", p.Reroute)
	}
	if got := p.Headers["From"]; got != `"The Boss" <boss@new.example>` {
		t.Errorf("From %q", got)
	}
	if got := p.Headers["To"]; got != "<ann@new.example>, <kim@lmtp.example>" {
		t.Errorf("To %q", got)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "reroute") {
		t.Errorf("notes %v", p.Notes)
	}
	if p.Changes() == nil || p.Empty() {
		t.Error("plan is empty")
	}
}

func TestPlanDKIM(t *testing.T) {
	conf := `{"headers": [{"match": "*@old.example", "to": "*@new.example"}]%s}`
	h := hdr("DKIM-Signature", "v=1; a=rsa-sha256; d=old.example; s=s;\r\n h=From : Subject;\r\n bh=x; b=y",
		"From", "a@old.example", "To", "b@old.example")
	txn := sdk.Txn{From: "a@old.example", Recipients: []sdk.Recipient{{Addr: "b@old.example"}}}

	p, err := mustParse(t, strings.Replace(conf, "%s", "", 1)).MakePlan(txn, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Headers["From"]; ok {
		t.Error("signed From rewritten by default")
	}
	if p.Headers["To"] != "<b@new.example>" {
		t.Errorf("unsigned To: %q", p.Headers["To"])
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "DKIM") {
		t.Errorf("notes %v", p.Notes)
	}
	p, _ = mustParse(t, strings.Replace(conf, "%s", `, "dkim": "rewrite"`, 1)).MakePlan(txn, h)
	if p.Headers["From"] != "<a@new.example>" {
		t.Errorf("dkim=rewrite: From %q", p.Headers["From"])
	}
}

func TestPlanUnparseableHeaderLeftAlone(t *testing.T) {
	rw := mustParse(t, `{"headers": [{"match": "*@old.example", "to": "*@new.example"}]}`)
	p, err := rw.MakePlan(sdk.Txn{}, hdr("To", "a@old.example, <<garbage"))
	if err != nil || !p.Empty() {
		t.Errorf("plan %+v, %v", p, err)
	}
}

func TestFoldLongList(t *testing.T) {
	rw := mustParse(t, `{"headers": [{"match": "*@old.example", "to": "*@new.example"}]}`)
	var addrs []string
	for i := 0; i < 20; i++ {
		addrs = append(addrs, "someone.with.a.long.name@old.example")
	}
	p, _ := rw.MakePlan(sdk.Txn{}, hdr("Cc", strings.Join(addrs, ", ")))
	v := p.Headers["Cc"]
	for _, line := range strings.Split(v, "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d bytes: %q", len(line), line)
		}
	}
	if strings.Count(v, "@new.example") != 20 {
		t.Errorf("value %q", v)
	}
}

func FuzzRewrite(f *testing.F) {
	rw, err := Parse([]byte(`{"recipients": [{"regexp": "(.*)\\+(.*)@(.*)", "to": "$2@$3"}, {"match": "*@a.example", "to": "*@b.example"}],
	  "headers": [{"match": "*@a.example", "to": "*@b.example"}], "plus": {"separator": "+"}, "masquerade": {"domains": ["a.example"]}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("x+y@a.example", "\"N\" <x@a.example>, y@c.example")
	f.Add("@", "=?utf-8?q?=C3=A9?= <x@a.example>")
	f.Fuzz(func(t *testing.T, addr, field string) {
		out, err := rw.Recipient(addr)
		if err == nil && out != addr && !mailbox.Valid(out) {
			t.Fatalf("Recipient(%q) = %q, not an address", addr, out)
		}
		rw.Sender(addr)
		rw.MakePlan(sdk.Txn{From: addr, Recipients: []sdk.Recipient{{Addr: addr}}}, hdr("To", field, "From", field))
	})
}

// TestPlanHeaderEncoding: a rewritten field goes out as the host takes it
// (ABI.md 3.3): non-ASCII display names as encoded-words, folded however
// long, and a non-ASCII address only with SMTPUTF8 (it has no 7-bit
// form), else the field is left alone with a note.
func TestPlanHeaderEncoding(t *testing.T) {
	rw := mustParse(t, `{"headers": [{"match": "*@old.example", "to": "*@new.example"}]}`)
	long := strings.Repeat("Jürgen ", 150)
	utf8Txn := sdk.Txn{MailParams: map[string]string{"SMTPUTF8": ""}}
	for _, c := range []struct {
		name  string
		txn   sdk.Txn
		field string
		want  string // "" when the field is left alone
		dec   string // the decoded display name, when want is "(decodes)"
	}{
		{"ascii name", sdk.Txn{}, `"Ann B." <a@old.example>`, `"Ann B." <a@new.example>`, ""},
		{"raw utf-8 name", sdk.Txn{}, "José Mueller <j@old.example>", "=?utf-8?q?Jos=C3=A9_Mueller?= <j@new.example>", ""},
		{"encoded name", sdk.Txn{}, "=?iso-8859-1?q?Jos=E9?= <j@old.example>", "=?utf-8?b?Sm9zw6k=?= <j@new.example>", ""},
		{"name with comma", sdk.Txn{}, `"Müller, Jo" <j@old.example>`, "=?utf-8?b?TcO8bGxlciwgSm8=?= <j@new.example>", ""},
		{"long name folded", sdk.Txn{}, `"` + long + `" <j@old.example>`, "(decodes)", long},
		{"utf-8 address, no SMTPUTF8", sdk.Txn{}, "a@old.example, <jörg@else.example>", "", ""},
		{"utf-8 address, SMTPUTF8", utf8Txn, "a@old.example, <jörg@else.example>", "<a@new.example>, <jörg@else.example>", ""},
		{"latin-1 name left alone", sdk.Txn{}, "Jos\xe9 <j@old.example>", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := rw.MakePlan(c.txn, hdr("To", c.field))
			if err != nil {
				t.Fatal(err)
			}
			got := p.Headers["To"]
			if c.want == "" {
				if got != "" {
					t.Errorf("To rewritten to %q, want it left alone", got)
				}
				return
			}
			if err := hdrrule.Check("To", got, hdrtext.SMTPUTF8(c.txn.MailParams)); err != nil {
				t.Errorf("the host would refuse %q: %v", got, err)
			}
			if c.want != "(decodes)" {
				if got != c.want {
					t.Errorf("To %q, want %q", got, c.want)
				}
				return
			}
			for _, l := range strings.Split(got, "\r\n") {
				if len(l) > 78 {
					t.Errorf("line of %d bytes: %q", len(l), l)
				}
			}
			a, err := mail.ParseAddress(strings.ReplaceAll(got, "\r\n", ""))
			if err != nil || a.Name != c.dec || a.Address != "j@new.example" {
				t.Errorf("To %q parses as %v, %v", got, a, err)
			}
		})
	}
}
