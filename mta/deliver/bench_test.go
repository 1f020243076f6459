package deliver

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mta/config"
)

// BenchmarkSMTPDeliver4KB delivers 4 KB messages one after the other to a
// go-smtp sink on loopback through the pooled session. The sink runs in the
// same process, so -benchmem counts its allocations too.
func BenchmarkSMTPDeliver4KB(b *testing.B) {
	cert, _ := testCert(b)
	line := strings.Repeat("x", 76) + "\r\n"
	body := "Subject: bench\r\n\r\n" + strings.Repeat(line, (4096-18)/len(line))
	body += strings.Repeat("y", 4096-len(body)-2) + "\r\n"
	for _, tc := range []struct {
		name string
		mode config.TLSMode
	}{{"plain", config.TLSNone}, {"starttls", config.TLSRequired}} {
		b.Run(tc.name, func(b *testing.B) {
			s := &sink{discard: true}
			tr := newTransport(b, smtpTo(s.start(b, sinkOpts{tls: &cert}), tc.mode), Options{})
			msg := testMessage(body)
			rcpts := []string{"r@example.net"}
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if res := tr.Deliver(ctx, msg, rcpts); !res[0].OK() {
					b.Fatal(res[0])
				}
			}
			if c := s.connections(); c != 1 {
				b.Errorf("%d connections, want 1", c)
			}
		})
	}
}
