package rulesfilter_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

// BenchmarkHook compares the per-hook cost of the Rust rules filter with
// the Go example (plugin-tagger), in one run, on warm pooled instances:
// the mail hook (a small event) and the data hook on a 4 KB message (the
// Rust filter also pulls and scans the body for its body rules).
func BenchmarkHook(b *testing.B) {
	filters := []struct {
		name, wasm, config string
	}{
		{"go-tagger", wasmtest.Build(b, "examples/plugin-tagger"), `{"domains":["example.com"],"reject":["spam@bad.example"]}`},
		{"rust-rules", wasmtest.BuildScript(b, "examples/rust-filter/build.sh"),
			`{"rules":[{"name":"s","match":"sender","contains":"@bad.example","action":"reject"},` +
				`{"name":"p","match":"header:Subject","contains":"viagra","action":"reject"},` +
				`{"name":"w","match":"body","contains":"wire transfer","action":"tag"}]}`},
	}
	raw := "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\n" + strings.Repeat(strings.Repeat("z", 76)+"\r\n", 52)
	ctx := context.Background()
	for _, f := range filters {
		h, err := plugin.NewHost(ctx, []plugin.FilterSpec{{Name: f.name, Wasm: f.wasm, ConfigJSON: []byte(f.config)}},
			plugin.HostOptions{DataDir: b.TempDir(), CacheDir: wasmtest.CompileCacheDir()})
		if err != nil {
			b.Fatal(err)
		}
		c, _ := h.Chain([]string{f.name})
		sess := &plugin.Session{ID: "b", ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "client.example"}
		txn := &plugin.Txn{Session: sess, QueueID: "Q", From: "bob@example.org", Recipients: []plugin.Recipient{{Addr: "alice@example.com"}}}
		msg, err := plugin.ReadMessage(strings.NewReader(raw), int64(len(raw)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.name+"/mail", func(b *testing.B) {
			for b.Loop() {
				if v := c.Mail(ctx, txn); v.Action != plugin.Continue {
					b.Fatal(v)
				}
			}
		})
		b.Run(f.name+"/data-4KB", func(b *testing.B) {
			for b.Loop() {
				if v, _ := c.Data(ctx, txn, msg); v.Action != plugin.Continue {
					b.Fatal(v)
				}
			}
		})
		h.Close(ctx)
	}
}
