package main

import (
	"context"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/mta/config"
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
			host, err := plugin.NewHost(ctx, []config.Filter{{Name: "spam", Wasm: wasm, Stages: []string{"data"},
				Timeout: 10 * time.Second, MemoryBytes: 64 << 20, ConfigJSON: []byte(c.conf)}}, plugin.HostOptions{DataDir: dir, MaxInstances: 1})
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
