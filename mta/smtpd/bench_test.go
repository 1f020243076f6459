package smtpd_test

import (
	"fmt"
	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"strings"
	"testing"
	"time"
)

// BenchmarkRelay4KB measures accept-to-delivered throughput: 10 clients send
// 4 KB messages through the relay (durable queue, fsync before 250) to a
// local go-smtp sink; the clock stops when the sink has them all. The
// filters=3 case runs a chain of three pass-through Wasm plugins (mail and
// data stages) on the same path, for the ratio issue 5 asks about; compare
// the two in one run (-bench Relay4KB).
func BenchmarkRelay4KB(b *testing.B) {
	for _, n := range []int{0, 3} {
		b.Run(fmt.Sprintf("filters=%d", n), func(b *testing.B) { benchRelay(b, n) })
	}
}

func benchRelay(b *testing.B, filters int) {
	s := relaytest.StartSink(b, false, nil)
	var conf string
	var names []string
	if filters > 0 {
		wasm := wasmtest.Build(b, "plugin/testdata/pass")
		for i := range filters {
			name := fmt.Sprintf("pass%d", i)
			names = append(names, fmt.Sprintf("%q", name))
			conf += fmt.Sprintf("filter %q {\n  wasm = %q\n}\n", name, wasm)
		}
	}
	conf += fmt.Sprintf("domain \"sink.test\" {\n  filters = [%s]\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n",
		strings.Join(names, ", "), s.Addr)
	r := relaytest.StartRelay(b, conf)
	body := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 4096/80)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	relaytest.Blast(b, r.Addr("smtp"), "bench@example.com", "rcpt@sink.test", body, 10, b.N)
	s.WaitMessages(b, b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
