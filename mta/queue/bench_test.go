package queue

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mta/deliver"
)

// benchBody is a 4 KB message in CRLF lines, as the relay benchmarks send.
var benchBody = []byte("Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 4096/80))

// discardTransport reads each message and accepts every recipient.
type discardTransport struct{ n atomic.Int64 }

func (d *discardTransport) Deliver(_ context.Context, m *deliver.Message, rcpts []string) []deliver.Result {
	rc, err := m.Open()
	if err == nil {
		io.Copy(io.Discard, rc)
		rc.Close()
	}
	out := make([]deliver.Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = deliver.Result{Rcpt: r, Code: 250, Text: "ok"}
	}
	d.n.Add(1)
	return out
}

func (d *discardTransport) Close() error { return nil }

// spool receives b.N messages from `clients` goroutines as smtpd does:
// NewMessage, the body in one Write, Commit.
func spool(b *testing.B, q *Queue, clients int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				in, err := q.NewMessage()
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := in.Write(benchBody); err != nil {
					b.Error(err)
					return
				}
				env := &Envelope{From: "bench@example.com", Recipients: []*Recipient{{Addr: "rcpt@sink.test"}}}
				if err := q.Commit(in, env); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func benchQueue(b *testing.B, t deliver.Transport) *Queue {
	q, err := Open(Options{Dir: b.TempDir(), Router: domainRouter{"sink.test": t}, ConcurrencyPerDestination: 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(q.Close)
	return q
}

func msgsPerSec(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkSpool4KB measures receive-and-spool: the durable part of every
// 250 (data, envelope and directory on disk), without delivery.
func BenchmarkSpool4KB(b *testing.B) {
	for _, clients := range []int{1, 10, 50} {
		b.Run(clientsName(clients), func(b *testing.B) {
			q := benchQueue(b, &discardTransport{})
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			spool(b, q, clients)
			msgsPerSec(b, start)
		})
	}
}

// BenchmarkSpoolDeliver4KB measures spool-and-deliver: messages are
// committed by 10 clients and delivered by the queue to a transport that
// reads and accepts them; the clock stops when the queue is empty again.
func BenchmarkSpoolDeliver4KB(b *testing.B) {
	t := &discardTransport{}
	q := benchQueue(b, t)
	q.Start()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	spool(b, q, 10)
	for q.Len() > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	msgsPerSec(b, start)
}

func clientsName(n int) string {
	return "clients=" + strconv.Itoa(n)
}
