package smtpd_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

// TestSetPluginsMidTransaction swaps the filter while a client is between
// RCPT and DATA: that transaction gets the verdict of the module it started
// with, a transaction begun after the swap gets the new one, and the old
// chains are reported unused only once the first transaction ended.
func TestSetPluginsMidTransaction(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	reject := func(text string) map[string]any {
		return verdicts("data", "reject", 550, "5.7.1", text)
	}
	r := relaytest.StartRelay(t, behaveFilter(t, "f", reject("old module"), "")+sinkDomain("sink.test", s, "f"))

	// The new module (here: the same code, a different config) compiles
	// first, from the relay's compilation cache, as a reload does.
	conf, _ := json.Marshal(reject("new module"))
	h, err := plugin.NewHost(context.Background(), []plugin.FilterSpec{{Name: "f", Wasm: wasmtest.Build(t, "plugin/testdata/behave"),
		ConfigJSON: conf, Timeout: 5 * time.Second}}, plugin.HostOptions{DataDir: r.DataDir, CacheDir: wasmtest.CompileCacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })

	before := relaytest.DialRaw(t, r.Addr("smtp"))
	before.Cmd("EHLO client.test", 250)
	before.Cmd("MAIL FROM:<a@example.com>", 250)
	before.Cmd("RCPT TO:<u@sink.test>", 250)

	oldUnused, err := r.Server.SetPlugins(h)
	if err != nil {
		t.Fatal(err)
	}

	after := relaytest.DialRaw(t, r.Addr("smtp"))
	after.Cmd("EHLO client.test", 250)
	after.Cmd("MAIL FROM:<a@example.com>", 250)
	after.Cmd("RCPT TO:<u@sink.test>", 250)
	after.Cmd("DATA", 354)
	after.Send("Subject: after\r\n\r\nbody\r\n.\r\n")
	if got := after.Expect(550); got != "5.7.1 new module" {
		t.Errorf("transaction begun after the swap: %q", got)
	}
	select {
	case <-oldUnused:
		t.Fatal("old chains reported unused while a transaction still holds them")
	default:
	}

	before.Cmd("DATA", 354)
	before.Send("Subject: before\r\n\r\nbody\r\n.\r\n")
	if got := before.Expect(550); got != "5.7.1 old module" {
		t.Errorf("transaction begun before the swap: %q", got)
	}
	select {
	case <-oldUnused:
	case <-time.After(10 * time.Second):
		t.Fatal("old chains never reported unused after the last transaction on them ended")
	}
	// The next transaction on the same connection uses the new module.
	before.Cmd("MAIL FROM:<a@example.com>", 250)
	before.Cmd("RCPT TO:<u@sink.test>", 250)
	before.Cmd("DATA", 354)
	before.Send("Subject: again\r\n\r\nbody\r\n.\r\n")
	if got := before.Expect(550); got != "5.7.1 new module" {
		t.Errorf("next transaction on the old connection: %q", got)
	}
}
