package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/plugins/spam/bayes"
	"github.com/sluice-mail/sluice/sdk/hdrrule"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func hits(t *testing.T, s *settings, raw, envFrom string) []string {
	t.Helper()
	h, b := bayes.SplitMessage([]byte(raw))
	v := s.evaluate(bayes.Parse(h, b), envFrom, nil, now)
	var names []string
	for _, h := range v.hits {
		names = append(names, h.name)
	}
	return names
}

func mustSettings(t *testing.T, js string) *settings {
	t.Helper()
	s, err := parseSettings([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const cleanMsg = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Lunch tomorrow\r\n" +
	"Date: Wed, 01 May 2024 10:00:00 +0000\r\nMessage-ID: <123@example.org>\r\n\r\nShall we meet at noon?\r\n"

func TestRulesClean(t *testing.T) {
	s := mustSettings(t, "")
	if got := hits(t, s, cleanMsg, "alice@mail.example.org"); len(got) != 0 {
		t.Errorf("clean message hit %v", got)
	}
}

func TestRulesFire(t *testing.T) {
	s := mustSettings(t, "")
	for _, c := range []struct {
		rule, raw, env string
	}{
		{"MISSING_DATE", "From: a@example.org\r\nSubject: x\r\n\r\nx\r\n", ""},
		{"INVALID_DATE", "Date: yesterday-ish\r\n\r\nx\r\n", ""},
		{"DATE_IN_FUTURE", "Date: Wed, 01 May 2030 10:00:00 +0000\r\n\r\nx\r\n", ""},
		{"MISSING_MID", "Subject: x\r\n\r\nx\r\n", ""},
		{"INVALID_MSGID", "Message-ID: no-brackets\r\n\r\nx\r\n", ""},
		{"MISSING_FROM", "Subject: x\r\n\r\nx\r\n", ""},
		{"FROM_ENV_MISMATCH", "From: PayPal <service@paypal.example>\r\n\r\nx\r\n", "bulk@spammer.example"},
		{"TO_MISSING", "From: a@example.org\r\n\r\nx\r\n", ""},
		{"HTML_ONLY", "Content-Type: text/html\r\n\r\n<p>hi</p>\r\n", ""},
		{"HTML_LINK_MISMATCH", "Content-Type: text/html\r\n\r\n<a href=\"http://evil.example/login\">https://www.paypal.com/</a>\r\n", ""},
		{"HTML_IMAGE_ONLY", "Content-Type: text/html\r\n\r\n<img src=\"http://x.example/a.png\"> buy now\r\n", ""},
		{"SUBJ_ALL_CAPS", "Subject: MAKE MONEY FAST TODAY\r\n\r\nx\r\n", ""},
		{"SUBJ_EXCESS_PUNCT", "Subject: Act now!!\r\n\r\nx\r\n", ""},
		{"CHARSET_FARAWAY", "Content-Type: text/plain; charset=gb2312\r\n\r\nx\r\n", ""},
		{"CHARSET_FARAWAY", "Subject: =?big5?B?pKSk5Q==?=\r\n\r\nx\r\n", ""},
		{"MIME_BASE64_TEXT", "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n", ""},
		{"EXECUTABLE_ATTACHMENT", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.pdf.exe\"\r\n\r\nTVo=\r\n--b--\r\n", ""},
	} {
		if got := hits(t, s, c.raw, c.env); !slices.Contains(got, c.rule) {
			t.Errorf("%s did not fire on %q (hits %v)", c.rule, c.raw, got)
		}
	}
	// Same organisation, link text that is not a host: no hit.
	for _, c := range []struct{ rule, raw, env string }{
		{"FROM_ENV_MISMATCH", "From: a@example.org\r\n\r\nx\r\n", "bounce@lists.example.org"},
		{"FROM_ENV_MISMATCH", "From: a@shop.example.co.uk\r\n\r\nx\r\n", "b@mail.example.co.uk"},
		{"HTML_LINK_MISMATCH", "Content-Type: text/html\r\n\r\n<a href=\"http://www.example.com/x\">example.com</a> <a href=\"http://t.example/\">click here</a>\r\n", ""},
		{"SUBJ_ALL_CAPS", "Subject: OK\r\n\r\nx\r\n", ""},
	} {
		if got := hits(t, s, c.raw, c.env); slices.Contains(got, c.rule) {
			t.Errorf("%s fired on %q", c.rule, c.raw)
		}
	}
	// Weights come from the config; 0 turns a rule off.
	s2 := mustSettings(t, `{"rules": {"MISSING_DATE": 0, "MISSING_MID": 4}}`)
	h, b := bayes.SplitMessage([]byte("Subject: x\r\n\r\nx\r\n"))
	v := s2.evaluate(bayes.Parse(h, b), "", nil, now)
	if v.score != 4+1.5+0.5 { // MISSING_MID, MISSING_FROM, TO_MISSING
		t.Errorf("score %v hits %+v", v.score, v.hits)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, js := range []string{`{"rules": {"NO_SUCH_RULE": 1}}`, `{"default": {"subject_tag": "\n"}}`, `{"unknown": 1}`, `[1]`} {
		if _, err := parseSettings([]byte(js)); err == nil {
			t.Errorf("%s: no error", js)
		}
	}
}

func TestBayesParams(t *testing.T) {
	s := mustSettings(t, `{"bayes": {"max_clues": 50, "min_strength": 0.7, "strength": 1}}`)
	if p := s.params; p.MaxClues != 50 || p.MinStrength != 0.49 || p.S != 1 || p.MinSpam != 20 {
		t.Errorf("params %+v", p)
	}
	if p := mustSettings(t, "").params; p != bayes.DefaultParams {
		t.Errorf("default params %+v", p)
	}
}

func TestResultActions(t *testing.T) {
	s := mustSettings(t, `{"default": {"tag": 5, "quarantine": 10},
	  "domains": {"strict.example": {"reject": 8, "tag": 3, "subject_tag": "***SPAM***"}, "open.example": {"quarantine": 20}}}`)
	spam := verdict{score: 9, hits: []hit{{"BAYES_99", 6, "Bayesian spam probability is 100%"}, {"HTML_ONLY", 3, "HTML with no text alternative"}}}

	r0 := s.result(spam, s.actionsFor([]string{"u@strict.example"}), subjectField{Value: "Hi", Present: true})
	if res := r0.sdkResult(); res.Action != "reject" || res.Code != 550 || res.Enhanced != "5.7.1" || res.Text != "Message rejected as spam (score 9.0)" {
		t.Errorf("reject result %+v", res)
	}
	// Reject only when every recipient's domain rejects.
	if r := s.result(spam, s.actionsFor([]string{"u@strict.example"}), subjectField{Value: "Hi", Present: true}); r.action != "reject" || r.score != "9.0" {
		t.Errorf("strict: %+v", r)
	}
	r := s.result(spam, s.actionsFor([]string{"u@strict.example", "v@other.example"}), subjectField{Value: "Hi", Present: true})
	if r.action != "continue" {
		t.Errorf("mixed domains: %+v", r)
	}
	hdr := map[string]string{}
	for _, h := range r.headers {
		hdr[h.Name] = h.Value
	}
	if hdr["X-Spam-Score"] != "9.0" || !strings.HasPrefix(hdr["X-Spam-Status"], "Yes, score=9.0 required=3.0 tests=BAYES_99,HTML_ONLY") ||
		!strings.Contains(hdr["X-Spam-Report"], "\r\n\t*   6.0 BAYES_99") || hdr["Subject"] != "***SPAM*** Hi" {
		t.Errorf("headers %q", hdr)
	}
	// Quarantine at the default threshold, not on a domain that raised it.
	spam.score = 12
	if r := s.result(spam, s.actionsFor([]string{"u@x.example"}), subjectField{Value: "Hi", Present: true}); r.action != "quarantine" {
		t.Errorf("quarantine: %+v", r)
	}
	if r := s.result(spam, s.actionsFor([]string{"u@x.example", "u@open.example"}), subjectField{Value: "Hi", Present: true}); r.action != "continue" {
		t.Errorf("lenient quarantine: %+v", r)
	}
	// Ham: status No, subject untouched; an already tagged subject is not tagged twice.
	ham := verdict{score: -4}
	for _, h := range s.result(ham, s.actionsFor(nil), subjectField{Value: "Hi", Present: true}).headers {
		if h.Name == "Subject" || h.Name == "X-Spam-Status" && !strings.HasPrefix(h.Value, "No,") {
			t.Errorf("ham change %+v", h)
		}
	}
	spam.score = 6
	for _, h := range s.result(spam, s.actionsFor(nil), subjectField{Value: "[SPAM] Hi", Present: true}).headers {
		if h.Name == "Subject" {
			t.Errorf("tagged twice: %q", h.Value)
		}
	}
	// Control characters never reach a header value.
	for _, h := range s.result(spam, s.actionsFor(nil), subjectField{Value: "a\x01b", Present: true}).headers {
		if h.Name == "Subject" && h.Value != "[SPAM] ab" {
			t.Errorf("subject %q", h.Value)
		}
	}
}

func TestTagSubject(t *testing.T) {
	for _, c := range []struct {
		name string
		subj subjectField
		want string // "" leaves the Subject alone
	}{
		{"no subject", subjectField{}, "[SPAM]"},
		{"ascii", subjectField{Value: "Hi", Present: true}, "[SPAM] Hi"},
		{"already tagged", subjectField{Value: "[SPAM] Hi", Present: true}, ""},
		{"encoded-word kept", subjectField{Value: "=?utf-8?q?f=C3=BCr?=", Present: true}, "[SPAM] =?utf-8?q?f=C3=BCr?="},
		{"mostly ascii in Q", subjectField{Value: "Rechnung für Sie", Present: true}, "[SPAM] =?utf-8?q?Rechnung_f=C3=BCr_Sie?="},
		{"shorter in B", subjectField{Value: "Grüße", Present: true}, "[SPAM] =?utf-8?b?R3LDvMOfZQ==?="},
		{"cjk in base64", subjectField{Value: "重要なお知らせ", Present: true}, "[SPAM] =?utf-8?b?6YeN6KaB44Gq44GK55+l44KJ44Gb?="},
		{"utf-8 with SMTPUTF8", subjectField{Value: "Grüße", Present: true, SMTPUTF8: true}, "[SPAM] Grüße"},
		{"C1 and LS dropped", subjectField{Value: "a\u0085b\u2028c", Present: true, SMTPUTF8: true}, "[SPAM] abc"},
		{"C0 dropped, then encoded", subjectField{Value: "\x01Rechnung für\x7f Sie", Present: true}, "[SPAM] =?utf-8?q?Rechnung_f=C3=BCr_Sie?="},
		{"latin-1 left alone", subjectField{Value: "Gr\xfc\xdfe", Present: true}, ""},
		{"latin-1 left alone with SMTPUTF8", subjectField{Value: "Gr\xfc\xdfe", Present: true, SMTPUTF8: true}, ""},
		{"too long", subjectField{Value: strings.Repeat("x", 900), Present: true}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := tagSubject("[SPAM]", c.subj)
			if !ok {
				got = ""
			}
			if got != c.want {
				t.Errorf("tagSubject = %q, want %q", got, c.want)
			}
			if ok {
				if err := hdrrule.Check("Subject", got, c.subj.SMTPUTF8); err != nil {
					t.Errorf("the host would refuse it: %v", err)
				}
			}
		})
	}
	// A long UTF-8 subject is folded between encoded-words.
	long := strings.Repeat("Grüße ", 100) // 800 bytes
	got, ok := tagSubject("[SPAM]", subjectField{Value: long, Present: true})
	if !ok || !strings.Contains(got, "?=\r\n =?utf-8?") {
		t.Fatalf("long subject: %q, %v", got, ok)
	}
	if err := hdrrule.Check("Subject", got, false); err != nil {
		t.Error(err)
	}
}

// With no rule hit there is nothing to report: no X-Spam-Report is added,
// and one the message came with is removed rather than left standing.
func TestResultNoHitsNoReport(t *testing.T) {
	s := mustSettings(t, `{}`)
	r := s.result(verdict{score: 0}, s.actionsFor(nil), subjectField{Value: "Hi", Present: true})
	removed := false
	for _, h := range r.headers {
		if h.Name == "X-Spam-Report" && !h.Remove {
			t.Errorf("report added with no hit: %q", h.Value)
		}
		removed = removed || h.Name == "X-Spam-Report" && h.Remove
	}
	if !removed {
		t.Errorf("an incoming X-Spam-Report is not removed: %+v", r.headers)
	}
	res := r.sdkResult()
	if res.Action != "continue" {
		t.Errorf("result %+v", res)
	}
	// With a hit the report is there.
	r = s.result(verdict{score: 1, hits: []hit{{"MISSING_DATE", 1, "no Date"}}}, s.actionsFor(nil), subjectField{})
	found := false
	for _, h := range r.headers {
		found = found || h.Name == "X-Spam-Report" && !h.Remove && strings.Contains(h.Value, "MISSING_DATE")
	}
	if !found {
		t.Errorf("report missing with a hit: %+v", r.headers)
	}
}

// A Date: or Message-ID: with an empty value is as good as none: it scores
// as missing, the same as a message without the fields.
func TestRulesEmptyDateMessageID(t *testing.T) {
	s := mustSettings(t, "")
	const rest = "From: a@example.org\r\nTo: b@example.com\r\nSubject: x\r\n"
	score := func(raw string) (float64, []string) {
		h, b := bayes.SplitMessage([]byte(raw))
		v := s.evaluate(bayes.Parse(h, b), "", nil, now)
		var names []string
		for _, h := range v.hits {
			names = append(names, h.name)
		}
		return v.score, names
	}
	absent, absentHits := score(rest + "\r\nx\r\n")
	for _, raw := range []string{
		rest + "Date:\r\nMessage-ID:\r\n\r\nx\r\n",
		rest + "Date: \r\nMessage-ID:  \t\r\n\r\nx\r\n",
	} {
		got, names := score(raw)
		if !slices.Contains(names, "MISSING_DATE") || !slices.Contains(names, "MISSING_MID") || got != absent {
			t.Errorf("%q: score %v hits %v, want %v as with both absent (%v)", raw, got, names, absent, absentHits)
		}
	}
}
