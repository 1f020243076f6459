package main

import (
	"context"
	"crypto"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

// benchMessage is a 4 KB message.
var benchMessage = "From: Alice <alice@example.com>\r\nTo: bob@remote.test\r\nSubject: benchmark\r\n" +
	"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <bench@example.com>\r\n\r\n" +
	strings.Repeat("A line of body text for the benchmark, about seventy bytes long.\r\n", 60)

// BenchmarkDataStage measures the dkim filter's data stage per message in
// the real plugin host (Wasm, warm instances): signing with each key type,
// inside Wasm (a key in the config) and in the host (-host: the "sign"
// grant), and verifying one signature against a loopback DNS stub.
func BenchmarkDataStage(b *testing.B) {
	txt := map[string]string{"rsa1._domainkey.example.com": txtRecord(b, rsaKey), "ed1._domainkey.example.com": txtRecord(b, edKey)}
	resolver := dnstest.TXT(b, txt)
	for _, bc := range []struct {
		name, selector string
		key            crypto.Signer
		sign, host     bool // host: the key is in signing_keys (the "sign" grant), not in the config
	}{
		{"sign-rsa2048", "rsa1", rsaKey, true, false},
		{"sign-rsa2048-host", "rsa1", rsaKey, true, true},
		{"sign-ed25519", "ed1", edKey, true, false},
		{"sign-ed25519-host", "ed1", edKey, true, true},
		{"verify-rsa2048", "rsa1", rsaKey, false, false},
		{"verify-ed25519", "ed1", edKey, false, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pemKey := pemOf(b, bc.key)
			conf, _ := json.Marshal(map[string]any{"authserv_id": "relay.test",
				"keys": []map[string]string{{"domain": "example.com", "selector": bc.selector, "key": pemKey}}})
			f := plugin.FilterSpec{Name: "dkim", Wasm: wasmtest.Build(b, "plugins/dkim"),
				Stages: []string{"data"}, Grants: []string{"dns"}, Resolver: resolver, ConfigJSON: conf,
				Timeout: 10e9, MemoryBytes: 64 << 20, OnError: "tempfail"}
			if bc.host {
				path := filepath.Join(b.TempDir(), "key.pem")
				if err := os.WriteFile(path, []byte(pemKey), 0o600); err != nil {
					b.Fatal(err)
				}
				f.ConfigJSON = []byte(`{"authserv_id": "relay.test"}`)
				f.Grants = []string{"dns", "sign"}
				f.SigningKeys = []plugin.SigningKey{{Name: "example.com/" + bc.selector, Path: path}}
			}
			h, err := plugin.NewHost(context.Background(), []plugin.FilterSpec{f}, plugin.HostOptions{CacheDir: wasmtest.CompileCacheDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			chain, err := h.Chain([]string{"dkim"})
			if err != nil {
				b.Fatal(err)
			}
			text := benchMessage
			sess := &plugin.Session{ClientIP: netip.MustParseAddr("127.0.0.1"), AuthUser: "alice"}
			if !bc.sign {
				s := &settings{keys: []signingKey{{domain: "example.com", selector: bc.selector, signer: bc.key}}, headers: defaultHeaders}
				text = signed(b, s, benchMessage)
				sess = &plugin.Session{ClientIP: netip.MustParseAddr("127.0.0.1")}
			}
			txn := &plugin.Txn{Session: sess, From: "alice@example.com", Recipients: []plugin.Recipient{{Addr: "bob@remote.test"}}}
			run := func() *plugin.Changes {
				msg, err := plugin.ReadMessage(strings.NewReader(text), int64(len(text)))
				if err != nil {
					b.Fatal(err)
				}
				v, ch := chain.Data(context.Background(), txn, msg)
				if v.Action != plugin.Continue || ch == nil {
					b.Fatalf("verdict %+v", v)
				}
				return ch
			}
			ch := run()
			want := "DKIM-Signature"
			if !bc.sign {
				want = "Authentication-Results"
			}
			if ch.Headers[0].Name != want || (!bc.sign && !strings.Contains(ch.Headers[0].Value, "dkim=pass")) {
				b.Fatalf("changes %+v", ch.Headers)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run()
			}
		})
	}
}
