package plugin

import (
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// logSink forwards one filter's guest output to its logger through a token
// bucket, so a plugin that floods stdout costs bounded memory and disk:
// lines over the rate are dropped and counted, and the count is logged when
// the plugin may log again.
type logSink struct {
	log     hclog.Logger
	rate    float64 // tokens per second
	burst   float64
	now     func() time.Time
	mu      sync.Mutex
	tokens  float64
	last    time.Time
	pending uint64        // dropped since the last report
	dropped atomic.Uint64 // total, for tests and metrics
	// reported is when flush last reported drops: it does so at most once
	// a second, so that a plugin flooding every call cannot flood this way.
	reported time.Time
}

func newLogSink(log hclog.Logger) *logSink {
	return &logSink{log: log, rate: 100, burst: 200, tokens: 200, now: time.Now, last: time.Now()}
}

// flush reports lines dropped since the last report, at most once a
// second; the host calls it when a call ends, so that a plugin that floods
// and then falls silent still has its drops counted in the log.
func (s *logSink) flush() {
	s.mu.Lock()
	now := s.now()
	dropped := s.pending
	if dropped == 0 || now.Sub(s.reported) < time.Second {
		s.mu.Unlock()
		return
	}
	s.pending, s.reported = 0, now
	s.mu.Unlock()
	s.log.Warn("plugin log lines dropped by the rate limit", "dropped", dropped)
}

func (s *logSink) emit(level int32, stream, line string) {
	if len(line) > abi.MaxLogLineBytes {
		line = line[:abi.MaxLogLineBytes] + "…(truncated)"
	}
	s.mu.Lock()
	now := s.now()
	s.tokens += now.Sub(s.last).Seconds() * s.rate
	if s.tokens > s.burst {
		s.tokens = s.burst
	}
	s.last = now
	if s.tokens < 1 {
		s.pending++
		s.mu.Unlock()
		s.dropped.Add(1)
		return
	}
	s.tokens--
	dropped := s.pending
	s.pending = 0
	s.mu.Unlock()
	if dropped > 0 {
		s.log.Warn("plugin log lines dropped by the rate limit", "dropped", dropped)
	}
	args := []any{"stream", stream, "line", line}
	switch level {
	case abi.LogTrace:
		s.log.Trace("plugin", args...)
	case abi.LogDebug:
		s.log.Debug("plugin", args...)
	case abi.LogWarn:
		s.log.Warn("plugin", args...)
	case abi.LogError:
		s.log.Error("plugin", args...)
	default:
		s.log.Info("plugin", args...)
	}
}

// lineWriter splits one instance's stdout or stderr into lines for the
// sink. It holds at most one line (MaxLogLineBytes); the rest of an overlong
// line is discarded.
type lineWriter struct {
	sink    *logSink
	stream  string
	stopped <-chan struct{} // the instance's interrupt: then writes fail at once
	buf     []byte
	skip    bool // discarding the tail of an overlong line
}

// errStopped answers the WASI calls of an interrupted instance (the guest
// sees EIO): a guest looping on costly WASI calls reaches its next check
// quickly instead of doing each one in full.
var errStopped = errors.New("instance interrupted")

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for lines := 0; len(p) > 0; lines++ {
		if lines%1024 == 0 && isClosed(w.stopped) {
			return n - len(p), errStopped
		}
		i := indexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !w.skip {
			room := abi.MaxLogLineBytes - len(w.buf)
			if len(chunk) > room {
				w.buf = append(w.buf, chunk[:room]...)
				w.sink.emit(abi.LogInfo, w.stream, string(w.buf)+"…(truncated)")
				w.buf, w.skip = w.buf[:0], true
			} else {
				w.buf = append(w.buf, chunk...)
			}
		}
		if i < 0 {
			break
		}
		if !w.skip {
			w.sink.emit(abi.LogInfo, w.stream, string(trimCR(w.buf)))
		}
		w.buf, w.skip = w.buf[:0], false
		p = p[i+1:]
	}
	return n, nil
}

func indexByte(p []byte, c byte) int {
	for i, b := range p {
		if b == c {
			return i
		}
	}
	return -1
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// isClosed reports whether c is closed (a nil channel never is).
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// randReader is an instance's source for WASI random_get: crypto/rand, at
// most 64 KiB a read, failing once the instance is interrupted, so that one
// call for gigabytes of randomness stops with the call's deadline.
type randReader struct{ stopped <-chan struct{} }

func (r randReader) Read(p []byte) (int, error) {
	if isClosed(r.stopped) {
		return 0, errStopped
	}
	return rand.Read(p[:min(len(p), 64<<10)])
}
