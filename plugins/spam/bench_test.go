package main

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/relaytest"

	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

// BenchmarkDataStage times one data-stage call of the real Wasm plugin
// through the plugin host (event encoding, body pull, parsing, rules,
// classifier, result) on a 4 KB message, with a trained model and with the
// classifier off. bench/spam measures the same over the SpamAssassin corpus.
func BenchmarkDataStage(b *testing.B) {
	wasm := wasmtest.Build(b, "plugins/spam")
	for _, c := range []struct{ name, conf string }{{"rules+bayes", `{}`}, {"rules-only", `{"bayes": {"weight": -1}}`}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			trainInto(b, dir, "spam")
			ctx := context.Background()
			host, err := plugin.NewHost(ctx, []plugin.FilterSpec{{Name: "spam", Wasm: wasm, Stages: []string{"data"},
				Timeout: 10 * time.Second, MemoryBytes: 64 << 20, ConfigJSON: []byte(c.conf)}}, plugin.HostOptions{DataDir: dir, MaxInstances: 1, CacheDir: wasmtest.CompileCacheDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer host.Close(ctx)
			chain, _ := host.Chain([]string{"spam"})
			r := rand.New(rand.NewSource(5))
			raw := message(r, append(append([]string{}, spamWords...), hamWords...), "benchmark")
			for len(raw) < 4096 {
				raw = strings.Replace(raw, "\r\n\r\n", "\r\n\r\n"+strings.Join(hamWords, " ")+"\r\n", 1)
			}
			m, err := plugin.ReadMessage(strings.NewReader(raw), int64(len(raw)))
			if err != nil {
				b.Fatal(err)
			}
			txn := &plugin.Txn{Session: &plugin.Session{ID: "b", Listener: "mx", ListenerKind: "smtp"}, From: "sender@example.org",
				Recipients: []plugin.Recipient{{Addr: "u@example.com"}}}
			chain.Data(ctx, txn, m) // loads the model into the instance
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if v, _ := chain.Data(ctx, txn, m); v.Reason != "" {
					b.Fatal(v.Reason)
				}
			}
		})
	}
}

// BenchmarkRelaySpam measures accept-to-delivered throughput of 4 KB text
// messages from 10 clients through a live relay (durable queue) to a sink,
// without and with the spam filter (trained model) on the domain.
func BenchmarkRelaySpam(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("spam=%v", on), func(b *testing.B) {
			s := relaytest.StartSink(b, false, nil)
			conf, filters := "", ""
			if on {
				conf = fmt.Sprintf("filter \"spam\" {\n  wasm = %q\n}\n", wasmtest.Build(b, "plugins/spam"))
				filters = `"spam"`
			}
			conf += fmt.Sprintf("domain \"sink.test\" {\n  filters = [%s]\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", filters, s.Addr)
			r := relaytest.StartRelay(b, conf)
			trainInto(b, r.DataDir, "spam")
			rnd := rand.New(rand.NewSource(1))
			body := message(rnd, append(append([]string{}, spamWords...), hamWords...), "bench")
			for len(body) < 4096 {
				body = strings.Replace(body, "\r\n\r\n", "\r\n\r\n"+strings.Join(hamWords, " ")+"\r\n", 1)
			}
			b.ResetTimer()
			start := time.Now()
			relaytest.Blast(b, r.Addr("smtp"), "sender@example.org", "u@sink.test", body, 10, b.N)
			s.WaitMessages(b, b.N)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
