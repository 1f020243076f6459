// The rules filter (src/lib.rs) in a live relay: it is written in Rust from
// sdk/ABI.md alone, so these tests prove the ABI as documented.
package rulesfilter_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// rulesConfig is the filter's config: every kind of match and action.
var rulesConfig = map[string]any{
	"tag_header": "X-Rules",
	"rules": []map[string]any{
		{"name": "bad-sender", "match": "sender", "contains": "@spammer.example", "action": "reject",
			"code": 553, "enhanced": "5.7.1", "text": "Sender refused by rules"},
		{"name": "pharma", "match": "header:Subject", "contains": []string{"viagra", "cialis"}, "action": "reject",
			"code": 550, "enhanced": "5.7.1", "text": "Pharma spam refused"},
		{"name": "greylist", "match": "header:X-Try", "contains": "later", "action": "tempfail"},
		{"name": "hold", "match": "body", "contains": "quarantine me", "action": "quarantine"},
		{"name": "wire", "match": "body", "contains": "wire transfer", "action": "tag"},
		{"name": "urgent", "match": "header", "contains": "importance: high", "action": "tag"},
	},
}

func startRelay(t *testing.T) (*relaytest.Relay, *relaytest.Sink) {
	t.Helper()
	wasm := wasmtest.BuildScript(t, "examples/rust-filter/build.sh")
	conf, err := json.Marshal(rulesConfig)
	if err != nil {
		t.Fatal(err)
	}
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf(`
filter "rules" {
  wasm = %q
  timeout = "30s"
  config = %s
}
domain "sink.test" {
  filters = ["rules"]
  deliver "smtp" {
    address = %q
    tls = "none"
  }
}
`, wasm, conf, s.Addr))
	return r, s
}

func TestRulesInRelay(t *testing.T) {
	r, s := startRelay(t)
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)

	// mail stage: the envelope sender rule.
	if got := rc.Cmd("MAIL FROM:<boss@SPAMMER.example>", 553); got != "5.7.1 Sender refused by rules" {
		t.Errorf("sender rule reply %q", got)
	}
	send := func(header, body string, code int) string {
		t.Helper()
		rc.Cmd("MAIL FROM:<a@example.com>", 250)
		rc.Cmd("RCPT TO:<u@sink.test>", 250)
		rc.Cmd("DATA", 354)
		rc.Send(header + "\r\n" + body + ".\r\n")
		return rc.Expect(code)
	}
	// A folded Subject still matches (values are unfolded before matching).
	if got := send("Subject: cheap\r\n VIAGRA here\r\n", "hi\r\n", 550); got != "5.7.1 Pharma spam refused" {
		t.Errorf("header rule reply %q", got)
	}
	if got := send("Subject: x\r\nX-Try: later please\r\n", "hi\r\n", 451); !strings.HasPrefix(got, "4.7.1") {
		t.Errorf("tempfail rule reply %q (want the host's default 451 4.7.1)", got)
	}
	send("Subject: held\r\n", "please quarantine me\r\n", 250)
	// A body larger than the 64 KiB chunks the filter pulls, with the
	// pattern straddling the first chunk boundary.
	line := strings.Repeat("x", 998) + "\r\n"
	prefix := strings.Repeat(line, (64<<10-6)/len(line))
	prefix += strings.Repeat("y", 64<<10-6-len(prefix))
	big := prefix + "wire transfer\r\n" + strings.Repeat("more text\r\n", 20000)
	send("Subject: big\r\nImportance: High\r\n", big, 250)
	// A client may not forge the tag: the filter removes it.
	send("Subject: forged\r\nX-Rules: wire\r\n", "hello\r\n", 250)
	send("Subject: clean\r\n", "hello\r\n", 250)
	rc.Cmd("QUIT", 221)

	msgs := s.WaitMessages(t, 3)
	got := map[string]string{}
	for _, m := range msgs {
		for _, subj := range []string{"held", "big", "forged", "clean"} {
			if strings.Contains(m.Data, "\r\nSubject: "+subj+"\r\n") {
				got[subj] = m.Data
			}
		}
	}
	if _, ok := got["held"]; ok {
		t.Error("the quarantined message was delivered")
	}
	if m := got["big"]; !strings.Contains(m, "\r\nX-Rules: wire, urgent\r\n") {
		t.Errorf("big message not tagged 'wire, urgent': %.300q", m)
	}
	if m := got["forged"]; m == "" || strings.Contains(m, "X-Rules") {
		t.Errorf("forged tag kept: %q", m)
	}
	if m := got["clean"]; !strings.HasSuffix(m, "\r\nSubject: clean\r\n\r\nhello\r\n") {
		t.Errorf("clean message altered: %q", m)
	}
}
