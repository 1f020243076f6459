package smtpd_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/relaytest"
)

// TestFilterEnvelopeAndLimits: through a live relay with a catch-all, a
// data-stage filter's output is held to what the client could have sent
// itself (issue 16, items 3 and 4). A recipient a filter adds or renames
// must pass the RCPT rules of the session (an unauthenticated client may
// not relay; a filter granted "relay" may), run the transaction's filters
// or none, and keep within max_recipients; the message it leaves must keep
// within max_message_size, max_header_size and 998-byte lines. A filter
// that breaks them gets its on_error (tempfail here, unless set), and
// nothing is delivered to a refused recipient. A sender a filter sets
// must pass the transaction's MAIL rules: not non-ASCII without SMTPUTF8,
// and for an authenticated client one of its user's addresses (sender
// binding); the null sender stays allowed.
func TestFilterEnvelopeAndLimits(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	add := func(addrs ...string) map[string]any {
		var ch []map[string]any
		for _, a := range addrs {
			ch = append(ch, map[string]any{"op": "add_rcpt", "value": a})
		}
		return map[string]any{"changes": ch}
	}
	many := make([]string, 10)
	for i := range many {
		many[i] = fmt.Sprintf("m%d@sink.test", i)
	}
	folded := strings.Repeat("x", 900) + "\r\n " + strings.Repeat("y", 900)
	var fields []map[string]any
	for i := range 40 { // 40 fields of 1.8 KB: 72 KB, over the 64 KiB
		fields = append(fields, map[string]any{"op": "add", "name": fmt.Sprint("X-Fill-", i), "value": folded})
	}
	filters := []struct{ name, extra, domain string }{
		{"add-outside", "", "out.test"},
		{"add-outside-cont", `  on_error = "continue"`, "cont.test"},
		{"add-outside-granted", `  grants = ["relay"]`, "granted.test"},
		{"rename-literal", "", "literal.test"},
		{"add-other-chain", "", "otherchain.test"},
		{"add-many", "", "many.test"},
		{"big-body", "", "bigbody.test"},
		{"big-header", "", "bigheader.test"},
		{"long-line", "", "longline.test"},
		{"reroute-nowhere", "", "reroute.test"},
		{"tag", "", "tagged.test"},
		{"sender-utf8", "", "senderutf8.test"},
		{"sender-null", "", "sendernull.test"},
		{"sender-forged", "", "senderforged.test"},
	}
	confs := map[string]map[string]any{
		"add-outside":         add("victim@elsewhere.test"),
		"add-outside-cont":    add("victim@elsewhere.test"),
		"add-outside-granted": add("victim@elsewhere.test"),
		"rename-literal":      {"changes": []map[string]any{{"op": "replace_rcpt", "name": "u@literal.test", "value": "victim@[127.0.0.1]"}}},
		"add-other-chain":     add("x@tagged.test"),
		"add-many":            add(many...),
		"big-body":            {"changes": []map[string]any{{"op": "body", "value": strings.Repeat("0123456789abcdef\r\n", 4000)}}},
		"big-header":          {"changes": fields},
		"long-line":           {"changes": []map[string]any{{"op": "body", "value": strings.Repeat("l", 2000) + "\r\n"}}},
		"reroute-nowhere":     {"changes": []map[string]any{{"op": "reroute", "name": "u@reroute.test", "value": "nowhere"}}},
		"tag":                 {"changes": []map[string]any{{"op": "add", "name": "X-Tag", "value": "1"}}},
		"sender-utf8":         {"changes": []map[string]any{{"op": "sender", "value": "jörg@example.com"}}},
		"sender-null":         {"changes": []map[string]any{{"op": "sender", "value": ""}}},
		"sender-forged":       {"changes": []map[string]any{{"op": "sender", "value": "ceo@bank.example"}}},
	}
	cfg := `metrics_listen = "127.0.0.1:0"
limits {
  max_message_size = "64KiB"
  max_header_size = "64KiB"
  max_recipients = 10
}
`
	for _, f := range filters {
		cfg += behaveFilter(t, f.name, confs[f.name], f.extra) + sinkDomain(f.domain, s, f.name)
	}
	cfg += sinkDomain("sink.test", s) + sinkDomain("*", s)
	r := relaytest.StartRelay(t, cfg)

	cases := []struct {
		listener, rcpt string
		auth           bool
		code           int
		want           []string // delivered to, when code is 250
	}{
		{"smtp", "u@out.test", false, 451, nil},
		{"smtp", "u@cont.test", false, 250, []string{"u@cont.test"}},
		{"smtp", "u@granted.test", false, 250, []string{"u@granted.test", "victim@elsewhere.test"}},
		{"smtp-insecure-auth", "v@out.test", true, 250, []string{"v@out.test", "victim@elsewhere.test"}},
		{"smtp", "u@literal.test", false, 451, nil},
		{"smtp", "u@otherchain.test", false, 451, nil},
		{"smtp", "u@many.test", false, 451, nil},
		{"smtp", "u@bigbody.test", false, 451, nil},
		{"smtp", "u@bigheader.test", false, 451, nil},
		{"smtp", "u@longline.test", false, 451, nil},
		{"smtp", "u@reroute.test", false, 451, nil},
		{"lmtp", "w@out.test", false, 451, nil},
		{"smtp", "u@senderutf8.test", false, 451, nil},
		{"smtp", "u@sendernull.test", false, 250, []string{"u@sendernull.test"}},
		// Bound to alice's addresses once she is authenticated; an
		// unauthenticated client's sender is not bound to anyone.
		{"smtp-insecure-auth", "v@senderforged.test", true, 451, nil},
		{"smtp", "u@senderforged.test", false, 250, []string{"u@senderforged.test"}},
	}
	for _, tc := range cases {
		rc := relaytest.DialRaw(t, r.Addr(tc.listener))
		if tc.listener == "lmtp" {
			rc.Cmd("LHLO client.test", 250)
		} else {
			rc.Cmd("EHLO client.test", 250)
		}
		if tc.auth {
			rc.Cmd("AUTH PLAIN "+plain(relaytest.User, relaytest.Password), 235)
		}
		rc.Cmd("MAIL FROM:<a@example.com>", 250)
		rc.Cmd("RCPT TO:<"+tc.rcpt+">", 250)
		rc.Cmd("DATA", 354)
		rc.Send("Subject: " + tc.rcpt + "\r\nFrom: a@example.com\r\n\r\nhi\r\n.\r\n")
		if got := rc.Expect(tc.code); tc.code == 451 && !strings.Contains(got, "4.3.0") {
			t.Errorf("%s: %q, want the on_error reply 4.3.0", tc.rcpt, got)
		}
		rc.Cmd("QUIT", 221)
	}
	// The same client is refused these recipients at RCPT, as before.
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<victim@elsewhere.test>", 554)
	rc.Cmd("RCPT TO:<victim@[127.0.0.1]>", 554)
	rc.Cmd("QUIT", 221)

	wantMsgs := 0
	for _, tc := range cases {
		if tc.code == 250 {
			wantMsgs++
		}
	}
	s.WaitMessages(t, wantMsgs)
	waitQueueEmpty(t, r)
	got := map[string][]string{}
	for _, m := range s.Messages() {
		subject, _, _ := strings.Cut(m.Data[strings.Index(m.Data, "Subject: ")+len("Subject: "):], "\r\n")
		got[subject] = append(got[subject], m.Rcpts...)
		wantFrom := "a@example.com"
		switch subject {
		case "u@sendernull.test":
			wantFrom = ""
		case "u@senderforged.test":
			wantFrom = "ceo@bank.example"
		}
		if m.From != wantFrom {
			t.Errorf("%s: envelope sender %q, want %q", subject, m.From, wantFrom)
		}
	}
	for _, tc := range cases {
		if !slices.Equal(got[tc.rcpt], tc.want) {
			t.Errorf("%s: delivered to %v, want %v", tc.rcpt, got[tc.rcpt], tc.want)
		}
	}
	if len(got) != wantMsgs {
		t.Errorf("delivered %v", got)
	}

	metrics := scrapeText(t, r.MetricsURL)
	for name, kind := range map[string]string{
		"add-outside": "policy", "add-outside-cont": "policy", "rename-literal": "policy", "add-other-chain": "policy",
		"reroute-nowhere": "policy", "sender-utf8": "policy", "sender-forged": "policy", "add-many": "limit", "big-body": "limit", "big-header": "limit", "long-line": "limit",
	} {
		want := 1
		if name == "add-outside" {
			want = 2 // SMTP and LMTP
		}
		line := fmt.Sprintf(`sluice_filter_errors_total{filter=%q,kind=%q,stage="data"} %d`, name, kind, want)
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
}

func scrapeText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
