package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

// TestTaggerInLiveRelay runs the README's example plugin in a relay: a
// listed sender is refused at MAIL, outside mail is tagged, inside mail is
// not, and a forged tag from inside is removed.
func TestTaggerInLiveRelay(t *testing.T) {
	wasm := wasmtest.Build(t, "examples/plugin-tagger")
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf(`
filter "tagger" {
  wasm     = %q
  timeout  = "30s"
  memory   = "64MiB"
  on_error = "tempfail"
  config = {
    domains = ["example.com"]
    reject  = ["spam@bad.example"]
  }
}
domain "example.com" {
  filters = ["tagger"]
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
`, wasm, s.Addr))
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	if got := rc.Cmd("MAIL FROM:<SPAM@bad.example>", 550); !strings.HasPrefix(got, "5.7.1") {
		t.Errorf("listed sender: %q", got)
	}
	send := func(from, subject, extra string) {
		rc.Cmd("MAIL FROM:<"+from+">", 250)
		rc.Cmd("RCPT TO:<bob@example.com>", 250)
		rc.Cmd("DATA", 354)
		rc.Send("Subject: " + subject + "\r\n" + extra + "\r\nhello\r\n.\r\n")
		rc.Expect(250)
	}
	send("alice@elsewhere.example", "outside", "")
	send("carol@example.com", "inside", "X-Sluice-Outside: yes\r\n")
	rc.Cmd("QUIT", 221)

	got := map[string]string{}
	for _, m := range s.WaitMessages(t, 2) {
		for _, subj := range []string{"outside", "inside"} {
			if strings.Contains(m.Data, "Subject: "+subj+"\r\n") {
				got[subj] = m.Data
			}
		}
	}
	if !strings.Contains(got["outside"], "X-Sluice-Outside: yes\r\n") {
		t.Errorf("outside mail not tagged: %q", got["outside"])
	}
	if strings.Contains(got["inside"], "X-Sluice-Outside") {
		t.Errorf("inside mail kept a forged tag: %q", got["inside"])
	}
}

// TestTaggerRefusesBadConfig: a config the tagger cannot decode stops the
// filter from loading, with the filter named and the plugin's reason logged.
func TestTaggerRefusesBadConfig(t *testing.T) {
	wasm := wasmtest.Build(t, "examples/plugin-tagger")
	var log strings.Builder
	h, err := plugin.NewHost(context.Background(), []plugin.FilterSpec{{Name: "tagger", Wasm: wasm,
		ConfigJSON: []byte(`{"domains": "example.com"}`)}},
		plugin.HostOptions{CacheDir: wasmtest.CompileCacheDir(), Logger: hclog.New(&hclog.LoggerOptions{Output: &log})})
	if err == nil {
		h.Close(context.Background())
		t.Fatal("the tagger loaded with a config it cannot read")
	}
	if !strings.Contains(err.Error(), `filter "tagger"`) || !strings.Contains(log.String(), "tagger: bad config: json: cannot unmarshal string") {
		t.Errorf("error %v; log:\n%s", err, log.String())
	}
}
