package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

const e2eConfig = `{
  "recipients": [
    {"match": "joe@example.org", "to": "joe@fr.example.org"},
    {"match": "*@old.example.org", "to": "*@example.org"}
  ],
  "senders": [{"match": "*@old.example.org", "to": "*@example.org"}],
  "headers": [{"match": "*@old.example.org", "to": "*@example.org"}],
  "masquerade": {"domains": ["example.org"]},
  "plus": {"separator": "+"},
  "reroute": [{"match": "*@paris.example.org", "route": "store"}]
}`

func smtpDomain(name, addr string, filters ...string) string {
	fl, _ := json.Marshal(filters)
	if filters == nil {
		fl = []byte("[]")
	}
	return fmt.Sprintf("domain %q {\n  filters = %s\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", name, fl, addr)
}

// TestRelayRewrite runs the plugin in a live relay: the sink sees the
// rewritten envelope and header, the rerouted recipient arrives over LMTP
// at the other domain block with its address unchanged, and a DKIM-signed
// From is left alone.
func TestRelayRewrite(t *testing.T) {
	wasm := wasmtest.Build(t, "plugins/rewrite")
	main := relaytest.StartSink(t, false, nil)
	store := relaytest.StartSink(t, true, nil)
	cfg := fmt.Sprintf("filter \"rewrite\" {\n  wasm = %q\n  config = %s\n}\n", wasm, e2eConfig) +
		smtpDomain("example.org", main.Addr, "rewrite") +
		smtpDomain("old.example.org", main.Addr, "rewrite") +
		smtpDomain("paris.example.org", main.Addr, "rewrite") +
		smtpDomain("fr.example.org", main.Addr) +
		fmt.Sprintf("domain \"store\" {\n  deliver \"lmtp\" {\n    address = %q\n  }\n}\n", store.Addr)
	r := relaytest.StartRelay(t, cfg)

	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<boss@mail.old.example.org>", 250)
	rc.Cmd("RCPT TO:<joe+news@example.org>", 250)
	rc.Cmd("RCPT TO:<ann@old.example.org>", 250)
	rc.Cmd("RCPT TO:<kim@paris.example.org>", 250)
	rc.Cmd("DATA", 354)
	rc.Send("From: Boss <boss@old.example.org>\r\nTo: ann@old.example.org, joe@example.org\r\nSubject: plain\r\n\r\nhello\r\n.\r\n")
	rc.Expect(250)

	// Same rules, but the From field is covered by a DKIM signature.
	rc.Cmd("MAIL FROM:<boss@old.example.org>", 250)
	rc.Cmd("RCPT TO:<ann@old.example.org>", 250)
	rc.Cmd("DATA", 354)
	rc.Send("DKIM-Signature: v=1; a=rsa-sha256; d=old.example.org; s=s; h=from:subject;\r\n bh=AAAA; b=BBBB\r\nFrom: boss@old.example.org\r\nTo: ann@old.example.org\r\nSubject: signed\r\n\r\nhello\r\n.\r\n")
	rc.Expect(250)
	rc.Cmd("QUIT", 221)

	msgs := waitRcpts(t, main, 3)
	var plain, signed []relaytest.Message
	for _, m := range msgs {
		if strings.Contains(m.Data, "Subject: signed") {
			signed = append(signed, m)
		} else {
			plain = append(plain, m)
		}
	}
	var all []string
	for _, m := range plain {
		if m.From != "boss@example.org" {
			t.Errorf("envelope sender %q, want boss@example.org (rewritten, then masqueraded)", m.From)
		}
		all = append(all, m.Rcpts...)
		if !strings.Contains(m.Data, "\r\nFrom: \"Boss\" <boss@example.org>\r\n") ||
			!strings.Contains(m.Data, "\r\nTo: <ann@example.org>, <joe@example.org>\r\n") {
			t.Errorf("header not rewritten:\n%s", m.Data)
		}
	}
	slices.Sort(all)
	if want := []string{"ann@example.org", "joe+news@fr.example.org"}; !slices.Equal(all, want) {
		t.Errorf("recipients at the sink %v, want %v", all, want)
	}
	lm := store.WaitMessages(t, 1)
	if len(lm[0].Rcpts) != 1 || lm[0].Rcpts[0] != "kim@paris.example.org" {
		t.Errorf("rerouted recipient %v, want kim@paris.example.org unchanged", lm[0].Rcpts)
	}
	if !strings.Contains(lm[0].Data, "Subject: plain") {
		t.Errorf("rerouted message %q", lm[0].Data)
	}
	s := signed[0]
	if !strings.Contains(s.Data, "\r\nFrom: boss@old.example.org\r\n") {
		t.Errorf("DKIM-signed From was rewritten:\n%s", s.Data)
	}
	if !strings.Contains(s.Data, "\r\nTo: <ann@example.org>\r\n") {
		t.Errorf("unsigned To not rewritten:\n%s", s.Data)
	}
	if s.From != "boss@example.org" || !slices.Equal(s.Rcpts, []string{"ann@example.org"}) {
		t.Errorf("signed message envelope %q %v (the envelope is not signed, so it is rewritten)", s.From, s.Rcpts)
	}
}

// TestLoopRefusedAtLoad: a configuration that rewrites in a cycle stops
// the plugin host from starting, and says why.
func TestLoopRefusedAtLoad(t *testing.T) {
	wasm := wasmtest.Build(t, "plugins/rewrite")
	fc := plugin.FilterSpec{Name: "rw", Wasm: wasm,
		ConfigJSON: []byte(`{"recipients": [{"match": "a@x.example", "to": "b@x.example"}, {"match": "b@x.example", "to": "a@x.example"}]}`)}
	var log strings.Builder
	h, err := plugin.NewHost(context.Background(), []plugin.FilterSpec{fc}, plugin.HostOptions{Logger: testLogger(&log), CacheDir: wasmtest.CompileCacheDir()})
	if err == nil {
		h.Close(context.Background())
		t.Fatal("host started with a looping rewrite table")
	}
	if !strings.Contains(err.Error(), `filter "rw"`) {
		t.Errorf("error %v does not name the filter", err)
	}
	if !strings.Contains(log.String(), "rewrite loop in recipients: a@x.example → b@x.example → a@x.example") {
		t.Errorf("log does not explain the loop:\n%s", log.String())
	}
}

// waitRcpts waits until the sink's messages carry n recipients in all
// (the queue may deliver recipients of one next hop together or apart).
func waitRcpts(t *testing.T, s *relaytest.Sink, n int) []relaytest.Message {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		msgs := s.Messages()
		got := 0
		for _, m := range msgs {
			got += len(m.Rcpts)
		}
		if got >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d recipients, want %d", got, n)
		}
	}
}

func testLogger(w *strings.Builder) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: &lockedWriter{w: w}, Level: hclog.Info})
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
