// The subject filter (subject.c) through the host: it is written in C from
// sdk/ABI.md alone, so these tests prove the ABI as documented for C. They
// skip, with build.sh's message, where clang and wasi-libc are missing.
package subjectfilter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

func build(t *testing.T) string {
	t.Helper()
	return wasmtest.BuildScript(t, "examples/c-filter/build.sh")
}

// TestSubjectConforms: plugin check passes it with a config, and refuses
// it without one (its constructor traps in _initialize).
func TestSubjectConforms(t *testing.T) {
	wasm := build(t)
	rep := plugin.Check(context.Background(), wasm, plugin.CheckOptions{ConfigJSON: []byte(`{"word":"invoice"}`), Timeout: 60 * time.Second})
	if !rep.OK() || strings.Join(rep.Stages, ",") != "data" {
		t.Errorf("stages %v, problems:\n%s", rep.Stages, strings.Join(rep.Problems, "\n"))
	}
	rep = plugin.Check(context.Background(), wasm, plugin.CheckOptions{})
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "_initialize: trap") {
		t.Errorf("without config: %v", rep.Problems)
	}
}

// TestSubjectInRelay: in a live relay, whose config reaches the filter as
// JSON with <, > escaped as \u003c, \u003e, a folded Subject that holds
// the word in another case is tagged, another passes untouched, and with
// action = "reject" the client gets the filter's 550.
func TestSubjectInRelay(t *testing.T) {
	wasm := build(t)
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf(`
filter "tag" {
  wasm = %[1]q
  timeout = "30s"
  config = { word = "<urgent>", header = "X-Urgent" }
}
filter "refuse" {
  wasm = %[1]q
  timeout = "30s"
  config = { word = "lottery", action = "reject" }
}
domain "sink.test" {
  filters = ["tag", "refuse"]
  deliver "smtp" {
    address = %[2]q
    tls = "none"
  }
}
`, wasm, s.Addr))
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	send := func(subject string, code int) string {
		t.Helper()
		rc.Cmd("MAIL FROM:<a@example.com>", 250)
		rc.Cmd("RCPT TO:<u@sink.test>", 250)
		rc.Cmd("DATA", 354)
		rc.Send("Subject: " + subject + "\r\n\r\nhello\r\n.\r\n")
		return rc.Expect(code)
	}
	send("read this\r\n <URGENT> now", 250)
	send("nothing special", 250)
	if got := send("You won the LOTTERY", 550); got != "5.7.1 Subject refused" {
		t.Errorf("reject reply %q", got)
	}
	rc.Cmd("QUIT", 221)

	msgs := s.WaitMessages(t, 2)
	got := map[string]string{}
	for _, m := range msgs {
		for _, subj := range []string{"read this", "nothing special"} {
			if strings.Contains(m.Data, "Subject: "+subj) {
				got[subj] = m.Data
			}
		}
	}
	if m := got["read this"]; !strings.HasSuffix(m, "\r\nX-Urgent: <urgent>\r\n\r\nhello\r\n") {
		t.Errorf("tagged message: %q", m)
	}
	if m := got["nothing special"]; m == "" || strings.Contains(m, "X-Urgent") {
		t.Errorf("untagged message: %q", m)
	}
}

// TestSubjectBadConfig: a config the filter refuses keeps the relay from
// loading it, with the filter named.
func TestSubjectBadConfig(t *testing.T) {
	wasm := build(t)
	_, err := plugin.NewHost(context.Background(), []plugin.FilterSpec{{Name: "subj", Wasm: wasm, ConfigJSON: []byte(`{"word":"x","action":"maybe"}`)}}, plugin.HostOptions{})
	if err == nil || !strings.Contains(err.Error(), `filter "subj"`) || !strings.Contains(err.Error(), "_initialize") {
		t.Errorf("bad config loaded: %v", err)
	}
}
