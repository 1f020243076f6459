package smtpd_test

import (
	"github.com/sluice-mail/sluice/internal/relaytest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// BenchmarkRelay4KB measures accept-to-delivered throughput: 10 clients send
// 4 KB messages through the relay (durable queue, fsync before 250) to a
// local go-smtp sink; the clock stops when the sink has them all.
func BenchmarkRelay4KB(b *testing.B) {
	s := relaytest.StartSink(b, false, nil)
	r := relaytest.StartRelay(b, sinkDomains(s))
	body := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 4096/80)
	const clients = 10
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(r.Addr("smtp"))
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for next.Add(1) <= int64(b.N) {
				if err := c.SendMail("bench@example.com", []string{"rcpt@sink.test"}, strings.NewReader(body)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.WaitMessages(b, b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")

}
