package smtpd_test

import (
	"encoding/json"
	"fmt"
	"github.com/sluice-mail/sluice/internal/relaytest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// behaveFilter is an HCL filter block running the plugin host's test
// plugin, whose behaviour comes from its config (see plugin/testdata/behave).
func behaveFilter(t *testing.T, name string, conf map[string]any, extra string) string {
	t.Helper()
	wasm := wasmtest.Build(t, "plugin/testdata/behave")
	js, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	// JSON is valid HCL expression syntax for objects.
	// A generous timeout, so a slow CI machine never trips it; the looping
	// filter sets its own short one.
	timeout := "30s"
	if conf["mode"] == "loop" {
		timeout = "500ms"
	}
	return fmt.Sprintf("filter %q {\n  wasm = %q\n  timeout = %q\n  memory = \"64MiB\"\n%s\n  config = %s\n}\n", name, wasm, timeout, extra, js)
}

func sinkDomain(name string, s *relaytest.Sink, filters ...string) string {
	fl, _ := json.Marshal(filters)
	if filters == nil {
		fl = []byte("[]")
	}
	return fmt.Sprintf("domain %q {\n  filters = %s\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", name, fl, s.Addr)
}

func verdicts(stage, action string, code int, enh, text string) map[string]any {
	return map[string]any{"verdicts": map[string]any{stage: map[string]any{"action": action, "code": code, "enhanced": enh, "text": text}}}
}

// TestFilterVerdictsPerDomain runs rcpt- and data-stage verdicts and changes
// of real Wasm filters through a live relay, one domain per behaviour.
func TestFilterVerdictsPerDomain(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	cfg := behaveFilter(t, "rcpt-tempfail", verdicts("rcpt", "tempfail", 450, "4.2.0", "Greylisted, try later"), "") +
		behaveFilter(t, "data-reject", verdicts("data", "reject", 550, "5.7.1", "Spam detected"), "") +
		behaveFilter(t, "data-discard", verdicts("data", "discard", 0, "", ""), "") +
		behaveFilter(t, "data-quarantine", verdicts("data", "quarantine", 0, "", ""), "") +
		behaveFilter(t, "add-header", map[string]any{"changes": []map[string]any{{"op": "add", "name": "X-Filtered", "value": "yes"}}}, "") +
		behaveFilter(t, "forge-received", map[string]any{"changes": []map[string]any{{"op": "add", "name": "Received", "value": "from forged by evil with ESMTPSA"}}}, "") +
		behaveFilter(t, "loop", map[string]any{"mode": "loop"}, "  on_error = \"tempfail\"") +
		behaveFilter(t, "pass", map[string]any{}, "") +
		sinkDomain("tempfail.test", s, "rcpt-tempfail") +
		sinkDomain("reject.test", s, "data-reject") +
		sinkDomain("discard.test", s, "data-discard") +
		sinkDomain("quarantine.test", s, "data-quarantine") +
		sinkDomain("header.test", s, "add-header") +
		sinkDomain("forge.test", s, "forge-received") +
		sinkDomain("loop.test", s, "loop") +
		sinkDomain("pass.test", s, "pass") +
		sinkDomain("plain.test", s)
	r := relaytest.StartRelay(t, cfg)

	send := func(rc *relaytest.Conn, rcpt string, rcptCode int, subject string, dataCode int) string {
		t.Helper()
		rc.Cmd("MAIL FROM:<a@example.com>", 250)
		if rc.Cmd("RCPT TO:<"+rcpt+">", rcptCode); rcptCode != 250 {
			rc.Cmd("RSET", 250)
			return ""
		}
		rc.Cmd("DATA", 354)
		rc.Send("Subject: " + subject + "\r\nFrom: a@example.com\r\n\r\nbody of " + subject + "\r\n.\r\n")
		return rc.Expect(dataCode)
	}
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)

	if msg := rc.Cmd("MAIL FROM:<a@example.com>", 250); msg == "" {
		t.Fatal("no reply")
	}
	if got := rc.Cmd("RCPT TO:<u@tempfail.test>", 450); !strings.Contains(got, "4.2.0 Greylisted") {
		t.Errorf("rcpt tempfail reply %q", got)
	}
	// The chain split: a recipient whose domain runs other filters waits.
	rc.Cmd("RCPT TO:<u@plain.test>", 250)
	if got := rc.Cmd("RCPT TO:<u@header.test>", 452); !strings.HasPrefix(got, "4.5.3") {
		t.Errorf("chain split reply %q", got)
	}
	rc.Cmd("RSET", 250)

	if got := send(rc, "u@reject.test", 250, "rejected", 550); !strings.Contains(got, "5.7.1 Spam detected") {
		t.Errorf("data reject reply %q", got)
	}
	send(rc, "u@discard.test", 250, "discarded", 250)
	send(rc, "u@quarantine.test", 250, "quarantined", 250)
	send(rc, "u@header.test", 250, "with header", 250)
	send(rc, "u@forge.test", 250, "forged", 451) // an invalid change applies on_error (tempfail)
	if got := send(rc, "u@loop.test", 250, "looping", 451); !strings.HasPrefix(got, "4.") {
		t.Errorf("looping filter reply %q", got)
	}
	send(rc, "u@pass.test", 250, "passed", 250)
	rc.Cmd("QUIT", 221)

	msgs := s.WaitMessages(t, 2)
	waitQueueEmpty(t, r)
	bySubject := map[string]string{}
	for _, m := range s.Messages() {
		for _, subj := range []string{"rejected", "discarded", "quarantined", "with header", "forged", "looping", "passed"} {
			if strings.Contains(m.Data, "Subject: "+subj+"\r\n") {
				bySubject[subj] = m.Data
			}
		}
	}
	if len(msgs) != 2 || len(bySubject) != 2 {
		t.Fatalf("sink got %d messages (%v), want only 'with header' and 'passed'", len(s.Messages()), keys(bySubject))
	}
	if h := bySubject["with header"]; !strings.Contains(h, "\r\nX-Filtered: yes\r\n") || !strings.HasPrefix(h, "Received: from client.test") {
		t.Errorf("changed message: %q", h)
	}
	// No change: the client's bytes pass byte-exact below the relay's Received.
	if p := bySubject["passed"]; !strings.HasSuffix(p, "\r\nSubject: passed\r\nFrom: a@example.com\r\n\r\nbody of passed\r\n") {
		t.Errorf("unchanged message altered: %q", p)
	}
	q, _ := filepath.Glob(filepath.Join(r.DataDir, "quarantine", "*.msg"))
	if len(q) != 1 {
		t.Fatalf("quarantine holds %d messages", len(q))
	}
	if b, _ := os.ReadFile(q[0]); !strings.Contains(string(b), "Subject: quarantined") {
		t.Errorf("quarantined message %q", b)
	}
}

// TestFilterSessionStages: connect, helo and mail verdicts seen by a real client.
func TestFilterSessionStages(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	cases := []struct {
		name  string
		conf  map[string]any
		check func(t *testing.T, addr string)
	}{
		{"connect reject", verdicts("connect", "reject", 554, "5.7.1", "Your network is blocked"), func(t *testing.T, addr string) {
			c := dialNoGreeting(t, addr)
			if line := readLine(t, c); line != "554 5.7.1 Your network is blocked" {
				t.Errorf("greeting %q", line)
			}
		}},
		{"helo reject", verdicts("helo", "reject", 550, "5.7.1", "Bad HELO"), func(t *testing.T, addr string) {
			rc := relaytest.DialRaw(t, addr)
			if got := rc.Cmd("EHLO bad.example", 550); got != "5.7.1 Bad HELO" {
				t.Errorf("helo reply %q", got)
			}
		}},
		{"mail reject", verdicts("mail", "reject", 553, "5.7.1", "Sender blocked"), func(t *testing.T, addr string) {
			rc := relaytest.DialRaw(t, addr)
			rc.Cmd("EHLO client.test", 250)
			rc.Cmd("MAIL FROM:<spammer@example.com>", 553)
			rc.Cmd("RCPT TO:<u@sink.test>", 502) // go-smtp: "Missing MAIL FROM command"
		}},
		{"mail tempfail with bad code falls back to 451", verdicts("mail", "tempfail", 250, "2.0.0", "sneaky"), func(t *testing.T, addr string) {
			rc := relaytest.DialRaw(t, addr)
			rc.Cmd("EHLO client.test", 250)
			rc.Cmd("MAIL FROM:<a@example.com>", 451)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := relaytest.StartRelay(t, behaveFilter(t, "f", tc.conf, "")+sinkDomain("sink.test", s, "f"))
			tc.check(t, r.Addr("smtp"))
		})
	}
}

func keys(m map[string]string) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

// On LMTP every recipient the client named gets the transaction's reply
// after DATA, also when a data-stage filter changed the recipients: sluice
// used to report a status per recipient it kept, and go-smtp panics on a
// status for an address the client did not name, so a message a filter
// gave a new recipient was queued, yet the client got 421 for all and
// would send it again.
func TestLMTPRepliesAfterRecipientChanges(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	cfg := behaveFilter(t, "add-rcpt", map[string]any{"changes": []map[string]any{{"op": "add_rcpt", "value": "added@sink.test"}}}, "") +
		behaveFilter(t, "replace-rcpt", map[string]any{"changes": []map[string]any{{"op": "replace_rcpt", "name": "u@replace.test", "value": "other@sink.test"}}}, "") +
		behaveFilter(t, "remove-rcpt", map[string]any{"changes": []map[string]any{{"op": "remove_rcpt", "value": "u@remove.test"}}}, "") +
		sinkDomain("add.test", s, "add-rcpt") +
		sinkDomain("replace.test", s, "replace-rcpt") +
		sinkDomain("remove.test", s, "remove-rcpt") +
		sinkDomain("sink.test", s)
	r := relaytest.StartRelay(t, cfg)
	cases := []struct {
		domain string
		want   []string // delivered to
	}{
		{"add.test", []string{"u@add.test", "v@add.test", "added@sink.test"}},
		{"replace.test", []string{"other@sink.test", "v@replace.test"}},
		{"remove.test", []string{"v@remove.test"}},
	}
	rc := relaytest.DialRaw(t, r.Addr("lmtp"))
	rc.Cmd("LHLO client.test", 250)
	for i, tc := range cases {
		rc.Cmd("MAIL FROM:<a@example.com>", 250)
		rc.Cmd("RCPT TO:<u@"+tc.domain+">", 250)
		rc.Cmd("RCPT TO:<v@"+tc.domain+">", 250)
		rc.Cmd("DATA", 354)
		rc.Send("Subject: " + tc.domain + "\r\n\r\nhi\r\n.\r\n")
		for _, rcpt := range []string{"u@" + tc.domain, "v@" + tc.domain} {
			if got := rc.Expect(250); !strings.Contains(got, "<"+rcpt+"> OK: queued as ") {
				t.Errorf("%s: reply %q", tc.domain, got)
			}
		}
		var got []string
		for _, m := range s.WaitMessages(t, i+1) {
			if strings.Contains(m.Data, "Subject: "+tc.domain+"\r\n") {
				got = append(got, m.Rcpts...)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: delivered to %v, want %v", tc.domain, got, tc.want)
		}
	}
	rc.Cmd("QUIT", 221)
}

// TestFiltersSeeEarlierChanges: through a live relay, each filter of a
// chain sees the message as the earlier ones left it. Two filters replace
// the body (before, the second collided and every message got 451), the
// one between reports the body and subject it read, and the relay's own
// Received header stays on top of what is delivered.
func TestFiltersSeeEarlierChanges(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	cfg := behaveFilter(t, "rewrites", map[string]any{"changes": []map[string]any{
		{"op": "body", "value": "first body\r\n"}, {"op": "set", "name": "Subject", "value": "tagged"}}}, "") +
		behaveFilter(t, "reads", map[string]any{"mode": "body"}, "") +
		behaveFilter(t, "rewrites-again", map[string]any{"changes": []map[string]any{{"op": "body", "value": "second body\r\n"}}}, "") +
		sinkDomain("chain.test", s, "rewrites", "reads", "rewrites-again")
	r := relaytest.StartRelay(t, cfg)
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<u@chain.test>", 250)
	rc.Cmd("DATA", 354)
	rc.Send("Subject: original\r\nFrom: a@example.com\r\n\r\noriginal body\r\n.\r\n")
	rc.Expect(250)
	rc.Cmd("QUIT", 221)

	got := s.WaitMessages(t, 1)[0].Data
	if !strings.HasPrefix(got, "Received: from client.test") || !strings.HasSuffix(got, "\r\n\r\nsecond body\r\n") ||
		!strings.Contains(got, "\r\nSubject: tagged\r\n") || strings.Contains(got, "original") {
		t.Errorf("delivered %q", got)
	}
	if !strings.Contains(got, `X-Part: 1 text/plain "first body" <nil>`) {
		t.Errorf("the filter between did not read the first filter's body: %q", got)
	}
}

// TestLMTPRecipientsOfSeveralChains: on LMTP, recipients whose domains run
// different filter chains share one transaction (no 452): each chain runs
// on its own copy of the message and each recipient gets its chain's
// reply. A domain that rejects refuses only its own recipients; the others
// are queued with their own chain's changes, a duplicate RCPT gets its
// chain's reply again, and the SMTP listener still splits with 452.
func TestLMTPRecipientsOfSeveralChains(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	cfg := behaveFilter(t, "tag-a", map[string]any{"changes": []map[string]any{{"op": "add", "name": "X-Chain", "value": "a"}}}, "") +
		behaveFilter(t, "tag-b", map[string]any{"changes": []map[string]any{{"op": "set", "name": "Subject", "value": "b"}}}, "") +
		behaveFilter(t, "reject", verdicts("data", "reject", 550, "5.7.1", "Not for this domain"), "") +
		sinkDomain("a.test", s, "tag-a") +
		sinkDomain("b.test", s, "tag-b") +
		sinkDomain("reject.test", s, "reject") +
		sinkDomain("sink.test", s)
	r := relaytest.StartRelay(t, cfg)

	rc := relaytest.DialRaw(t, r.Addr("lmtp"))
	rc.Cmd("LHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rcpts := []string{"u@a.test", "u@b.test", "u@reject.test", "v@a.test", "u@sink.test", "u@A.test"}
	for _, rcpt := range rcpts {
		rc.Cmd("RCPT TO:<"+rcpt+">", 250)
	}
	rc.Cmd("DATA", 354)
	rc.Send("Subject: original\r\nFrom: a@example.com\r\n\r\nhi\r\n.\r\n")
	ids := map[string]string{}
	for _, rcpt := range rcpts {
		code := 250
		if strings.HasSuffix(rcpt, "@reject.test") {
			code = 550
		}
		got := rc.Expect(code)
		if !strings.Contains(got, "<"+rcpt+">") {
			t.Errorf("reply for %s: %q", rcpt, got)
		}
		if code == 550 && (!strings.HasPrefix(got, "5.7.1 ") || !strings.Contains(got, "Not for this domain")) {
			t.Errorf("reply for %s: %q", rcpt, got)
		}
		if _, id, ok := strings.Cut(got, "queued as "); ok {
			ids[rcpt] = id
		}
	}
	// One queue entry per chain: a.test's recipients (and the duplicate) share one.
	if ids["u@a.test"] == "" || ids["u@a.test"] != ids["v@a.test"] || ids["u@a.test"] != ids["u@A.test"] ||
		ids["u@a.test"] == ids["u@b.test"] || ids["u@b.test"] == ids["u@sink.test"] {
		t.Errorf("queue ids %v", ids)
	}
	rc.Cmd("QUIT", 221)

	msgs := s.WaitMessages(t, 3)
	waitQueueEmpty(t, r)
	byRcpts := map[string]string{}
	for _, m := range s.Messages() {
		byRcpts[strings.Join(m.Rcpts, ",")] = m.Data
	}
	if len(msgs) != 3 || len(s.Messages()) != 3 {
		t.Fatalf("delivered %d messages: %v", len(s.Messages()), keys(byRcpts))
	}
	if m := byRcpts["u@a.test,v@a.test"]; !strings.Contains(m, "\r\nX-Chain: a\r\n") || !strings.Contains(m, "Subject: original") {
		t.Errorf("a.test's copy: %q", m)
	}
	if m := byRcpts["u@b.test"]; strings.Contains(m, "X-Chain") || !strings.Contains(m, "\r\nSubject: b\r\n") {
		t.Errorf("b.test's copy: %q", m)
	}
	if m := byRcpts["u@sink.test"]; strings.Contains(m, "X-Chain") || !strings.Contains(m, "Subject: original") {
		t.Errorf("sink.test's copy: %q", m)
	}

	// SMTP gives one reply for the whole transaction: it still splits.
	sc := relaytest.DialRaw(t, r.Addr("smtp"))
	sc.Cmd("EHLO client.test", 250)
	sc.Cmd("MAIL FROM:<a@example.com>", 250)
	sc.Cmd("RCPT TO:<u@a.test>", 250)
	sc.Cmd("RCPT TO:<u@b.test>", 452)
	sc.Cmd("QUIT", 221)
}
