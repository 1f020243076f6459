package plugin_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/textproto"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// TestVerdictsSeenByClient runs each verdict at each dialog stage through a
// live relay and reads what a real SMTP client gets: the plugin's own code,
// enhanced code and text for reject and tempfail, and for accept the
// stage's success even though the next filter of the chain would refuse
// (accept ends the chain for the stage). The plugin is the host tests'
// behave module, one filter block per verdict.
func TestVerdictsSeenByClient(t *testing.T) {
	wasm := wasmtest.Build(t, "plugin/testdata/behave")
	sink := relaytest.StartSink(t, false, nil)
	filter := func(name, stage, action string, code int, enhanced, text string) string {
		conf, _ := json.Marshal(map[string]any{"verdicts": map[string]any{stage: map[string]any{
			"action": action, "code": code, "enhanced": enhanced, "text": text}}})
		return fmt.Sprintf("filter %q {\n  wasm = %q\n  timeout = \"30s\"\n  config = %s\n}\n", name, wasm, conf)
	}
	domain := func(filters ...string) string {
		fl, _ := json.Marshal(filters)
		return fmt.Sprintf("domain \"sink.test\" {\n  filters = %s\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", fl, sink.Addr)
	}
	success := map[string]int{"connect": 220, "helo": 250, "auth": 235, "mail": 250, "rcpt": 250, "data": 250}
	for _, stage := range []string{"connect", "helo", "auth", "mail", "rcpt", "data"} {
		for _, tc := range []struct {
			name     string
			cfg      string
			code     int
			wantText string
		}{
			{"reject", filter("f", stage, "reject", 553, "5.7.2", "No from filter") + domain("f"), 553, "5.7.2 No from filter"},
			{"tempfail", filter("f", stage, "tempfail", 451, "4.7.2", "Later from filter") + domain("f"), 451, "4.7.2 Later from filter"},
			{"accept ends the chain", filter("a", stage, "accept", 0, "", "") + filter("b", stage, "reject", 553, "5.7.2", "Not reached") +
				domain("a", "b"), success[stage], ""},
		} {
			t.Run(stage+"/"+tc.name, func(t *testing.T) {
				r := relaytest.StartRelay(t, tc.cfg)
				code, text := dialogUntil(t, r.Addr("smtp-insecure-auth"), stage)
				if code != tc.code || (tc.wantText != "" && text != tc.wantText) || strings.Contains(text, "Not reached") {
					t.Errorf("%s: got %d %q, want %d %q", stage, code, text, tc.code, tc.wantText)
				}
			})
		}
	}
}

// TestLMTPVerdictPerRecipient: over LMTP a data-stage verdict reaches the
// client as one reply per recipient (RFC 2033 section 4.2).
func TestLMTPVerdictPerRecipient(t *testing.T) {
	wasm := wasmtest.Build(t, "plugin/testdata/behave")
	sink := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf(`filter "f" {
  wasm = %q
  config = { verdicts = { data = { action = "reject", code = 554, enhanced = "5.7.2", text = "No from filter" } } }
}
domain "sink.test" {
  filters = ["f"]
  deliver "smtp" {
    address = %q
    tls = "none"
  }
}
`, wasm, sink.Addr))
	c, err := textproto.Dial("tcp", r.Addr("lmtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	step := func(line string, want int) {
		t.Helper()
		if line != "" {
			c.PrintfLine("%s", line)
		}
		if code, msg, err := c.ReadResponse(want); err != nil {
			t.Fatalf("%q: %d %s (%v)", line, code, msg, err)
		}
	}
	step("", 220)
	step("LHLO client.test", 250)
	step("MAIL FROM:<a@example.com>", 250)
	step("RCPT TO:<one@sink.test>", 250)
	step("RCPT TO:<two@sink.test>", 250)
	step("DATA", 354)
	c.PrintfLine("Subject: x\r\n\r\nbody\r\n.")
	for _, rcpt := range []string{"one", "two"} {
		code, msg, err := c.ReadResponse(554)
		if err != nil || msg != "5.7.2 <"+rcpt+"@sink.test> No from filter" {
			t.Errorf("reply for %s: %d %q (%v)", rcpt, code, msg, err)
		}
	}
}

// dialogUntil runs an SMTP dialog on addr up to stage and returns the
// reply the client gets there.
func dialogUntil(t *testing.T, addr, stage string) (int, string) {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code, msg, _ := c.ReadResponse(0)
	if stage == "connect" {
		return code, msg
	}
	auth := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+relaytest.User+"\x00"+relaytest.Password))
	steps := []struct{ stage, line string }{
		{"helo", "EHLO client.test"},
		{"auth", auth},
		{"mail", "MAIL FROM:<a@example.com>"},
		{"rcpt", "RCPT TO:<u@sink.test>"},
		{"data", "DATA"},
	}
	for _, s := range steps {
		if err := c.PrintfLine("%s", s.line); err != nil {
			t.Fatal(err)
		}
		code, msg, _ = c.ReadResponse(0)
		if s.stage == "data" && code == 354 {
			c.PrintfLine("Subject: verdicts\r\n\r\nbody\r\n.")
			code, msg, _ = c.ReadResponse(0)
		}
		if s.stage == stage {
			return code, msg
		}
		if code/100 != 2 && code != 354 {
			t.Fatalf("%s: %d %s before the stage under test", s.stage, code, msg)
		}
	}
	t.Fatalf("unknown stage %s", stage)
	return 0, ""
}
