package queue

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mta/deliver"
)

// scriptedTransport answers each recipient from a script of replies, then
// accepts. It records what it delivered.
type scriptedTransport struct {
	mu        sync.Mutex
	replies   map[string][]deliver.Result // per recipient, consumed in order
	always    map[string]deliver.Result   // per recipient, every time
	delivered map[string]string           // rcpt -> body
	block     chan struct{}               // if non-nil, Deliver waits on it or ctx
}

func newScripted() *scriptedTransport {
	return &scriptedTransport{replies: map[string][]deliver.Result{}, delivered: map[string]string{}}
}

func (s *scriptedTransport) Deliver(ctx context.Context, m *deliver.Message, rcpts []string) []deliver.Result {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return nil
		}
	}
	rc, err := m.Open()
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []deliver.Result
	for _, r := range rcpts {
		if res, ok := s.always[r]; ok {
			res.Rcpt = r
			out = append(out, res)
			continue
		}
		if script := s.replies[r]; len(script) > 0 {
			s.replies[r] = script[1:]
			res := script[0]
			res.Rcpt = r
			out = append(out, res)
			if !res.OK() {
				continue
			}
		} else {
			out = append(out, deliver.Result{Rcpt: r, Code: 250, Text: "ok"})
		}
		s.delivered[r] = string(body)
	}
	return out
}
func (s *scriptedTransport) Close() error { return nil }

func (s *scriptedTransport) get(rcpt string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.delivered[rcpt]
	return b, ok
}

// domainRouter routes by recipient domain to per-domain transports.
type domainRouter map[string]deliver.Transport

func (d domainRouter) Route(r *Recipient) (string, deliver.Transport, error) {
	dom := r.Addr[strings.LastIndexByte(r.Addr, '@')+1:]
	if r.Route != "" {
		dom = r.Route
	}
	t, ok := d[dom]
	if !ok {
		return "", nil, fmt.Errorf("no route to %s", dom)
	}
	return "test:" + dom, t, nil
}

func enqueue(t *testing.T, q *Queue, body string, rcpts ...string) string {
	t.Helper()
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, body)
	env := &Envelope{From: "sender@example.com"}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, &Recipient{Addr: r})
	}
	if err := q.Commit(in, env); err != nil {
		t.Fatal(err)
	}
	return env.ID
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if !strings.HasSuffix(e.Name(), ".free") { // spool files kept for reuse (recycle.go)
			names = append(names, e.Name())
		}
	}
	return names
}

func TestDeliverAndRemove(t *testing.T) {
	dir := t.TempDir()
	tr := newScripted()
	var finished []*Envelope
	var fmu sync.Mutex
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}, Finished: func(e *Envelope, _ string) {
		fmu.Lock()
		finished = append(finished, e)
		fmu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	defer q.Close()
	enqueue(t, q, "Subject: hi\r\n\r\nbody\r\n", "x@a.example", "y@a.example")
	waitFor(t, "empty queue", func() bool { return q.Len() == 0 })
	for _, r := range []string{"x@a.example", "y@a.example"} {
		if b, ok := tr.get(r); !ok || b != "Subject: hi\r\n\r\nbody\r\n" {
			t.Errorf("%s: got %q, %v", r, b, ok)
		}
	}
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("files left: %v", f)
	}
	fmu.Lock()
	defer fmu.Unlock()
	if len(finished) != 1 {
		t.Fatalf("Finished called %d times", len(finished))
	}
}

func TestRetryThenDeliver(t *testing.T) {
	dir := t.TempDir()
	tr := newScripted()
	tr.replies["x@a.example"] = []deliver.Result{{Code: 451, Text: "try later"}, {Code: 421, Text: "busy"}}
	tr.replies["bad@a.example"] = []deliver.Result{{Code: 550, Text: "no such user", Permanent: true}}
	var final *Envelope
	var fmu sync.Mutex
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Finished: func(e *Envelope, _ string) { fmu.Lock(); final = e; fmu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	defer q.Close()
	enqueue(t, q, "m\r\n", "x@a.example", "bad@a.example")
	waitFor(t, "empty queue", func() bool { return q.Len() == 0 })
	fmu.Lock()
	defer fmu.Unlock()
	got := map[string]*Recipient{}
	for _, r := range final.Recipients {
		got[r.Addr] = r
	}
	if r := got["x@a.example"]; r.State != StateDelivered || r.Attempts != 3 {
		t.Errorf("x: %+v", r)
	}
	if r := got["bad@a.example"]; r.State != StateFailed || r.Attempts != 1 || !strings.Contains(r.LastReply, "550") {
		t.Errorf("bad: %+v", r)
	}
}

func TestExpiry(t *testing.T) {
	tr := newScripted()
	tr.always = map[string]deliver.Result{"x@a.example": {Code: 451, Text: "later"}}
	var final *Envelope
	var fmu sync.Mutex
	q, _ := Open(Options{Dir: t.TempDir(), Router: domainRouter{"a.example": tr}, RetryMin: 5 * time.Millisecond,
		RetryMax: 5 * time.Millisecond, GiveUpAfter: 30 * time.Millisecond,
		Finished: func(e *Envelope, _ string) { fmu.Lock(); final = e; fmu.Unlock() }})
	q.Start()
	defer q.Close()
	enqueue(t, q, "m\r\n", "x@a.example")
	waitFor(t, "empty queue", func() bool { return q.Len() == 0 })
	fmu.Lock()
	defer fmu.Unlock()
	if r := final.Recipients[0]; r.State != StateFailed || !strings.HasPrefix(r.LastReply, "expired") {
		t.Errorf("got %+v", r)
	}
}

// scheduledRouter is a domainRouter whose domains have retry schedules of
// their own (a Scheduler, as domain blocks make routing.Table one).
type scheduledRouter struct {
	domainRouter
	schedules map[string]Schedule // by domain
}

func (s scheduledRouter) Schedule(r *Recipient) Schedule {
	return s.schedules[r.Addr[strings.LastIndexByte(r.Addr, '@')+1:]]
}

// TestScheduleOfRouter: each recipient is retried and given up on its
// destination's schedule; a destination without one uses the queue's.
func TestScheduleOfRouter(t *testing.T) {
	tr := newScripted()
	later := deliver.Result{Code: 451, Text: "later"}
	tr.always = map[string]deliver.Result{"x@short.example": later, "y@hourly.example": later, "z@default.example": later}
	var final *Envelope
	var fmu sync.Mutex
	router := scheduledRouter{
		domainRouter: domainRouter{"short.example": tr, "hourly.example": tr, "default.example": tr},
		schedules: map[string]Schedule{
			"short.example":  {GiveUpAfter: time.Nanosecond},
			"hourly.example": {RetryMin: time.Hour, RetryMax: 2 * time.Hour},
		},
	}
	q, err := Open(Options{Dir: t.TempDir(), Router: router, RetryMin: 3 * time.Minute, RetryMax: time.Hour, GiveUpAfter: 24 * time.Hour,
		Finished: func(e *Envelope, _ string) { fmu.Lock(); final = e; fmu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	defer q.Close()
	id := enqueue(t, q, "m\r\n", "x@short.example", "y@hourly.example", "z@default.example")
	waitFor(t, "an attempt for each", func() bool {
		d, err := q.Show(id)
		if err != nil {
			return false
		}
		for _, r := range d.Envelope.Recipients {
			if r.Attempts == 0 {
				return false
			}
		}
		return true
	})
	d, err := q.Show(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Envelope.Recipients {
		delay := r.NextAttempt.Sub(r.LastAttempt)
		switch r.Addr {
		case "x@short.example":
			if r.State != StateFailed || !strings.HasPrefix(r.LastReply, "expired after 1ns: ") {
				t.Errorf("x: %+v, want expired on its domain's give_up_after", r)
			}
		case "y@hourly.example":
			if r.State != StateQueued || delay < 54*time.Minute || delay > 66*time.Minute {
				t.Errorf("y: next attempt in %v, want its domain's retry_min of 1h ±10%%", delay)
			}
		case "z@default.example":
			if r.State != StateQueued || delay < 162*time.Second || delay > 198*time.Second {
				t.Errorf("z: next attempt in %v, want the queue's retry_min of 3m ±10%%", delay)
			}
		}
	}
	fmu.Lock()
	defer fmu.Unlock()
	if final != nil {
		t.Errorf("message finished with recipients still queued: %+v", final)
	}
}

// A destination that hangs must not hold up another destination's mail.
func TestDestinationsIndependent(t *testing.T) {
	slow, fast := newScripted(), newScripted()
	slow.block = make(chan struct{})
	q, _ := Open(Options{Dir: t.TempDir(), Router: domainRouter{"slow.example": slow, "fast.example": fast}})
	q.Start()
	defer q.Close()
	enqueue(t, q, "m\r\n", "a@slow.example", "b@fast.example")
	waitFor(t, "fast delivery", func() bool { _, ok := fast.get("b@fast.example"); return ok })
	if _, ok := slow.get("a@slow.example"); ok {
		t.Fatal("slow destination delivered before it was released")
	}
	close(slow.block)
	waitFor(t, "empty queue", func() bool { return q.Len() == 0 })
}

func TestRecoverAfterRestart(t *testing.T) {
	dir := t.TempDir()
	tr := newScripted()
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: simulates a crash after 250 and before delivery.
	enqueue(t, q, "durable\r\n", "x@a.example")
	// And a message whose client never got 250.
	in, _ := q.NewMessage()
	io.WriteString(in, "half")
	// A leftover temporary envelope from a crash mid-write.
	os.WriteFile(filepath.Join(dir, "zzzzzzzzzz.env.tmp"), []byte("{"), 0o600)
	q.Close()

	q2, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	if q2.Len() != 1 {
		t.Fatalf("recovered %d messages, want 1", q2.Len())
	}
	q2.Start()
	defer q2.Close()
	waitFor(t, "delivery after restart", func() bool { return q2.Len() == 0 })
	if b, _ := tr.get("x@a.example"); b != "durable\r\n" {
		t.Errorf("delivered %q", b)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("files left: %v", f)
	}
}

func TestUnroutableFailsAtOnce(t *testing.T) {
	var final *Envelope
	var fmu sync.Mutex
	q, _ := Open(Options{Dir: t.TempDir(), Router: domainRouter{}, Finished: func(e *Envelope, _ string) { fmu.Lock(); final = e; fmu.Unlock() }})
	q.Start()
	defer q.Close()
	enqueue(t, q, "m\r\n", "x@nowhere.example")
	waitFor(t, "empty queue", func() bool { return q.Len() == 0 })
	fmu.Lock()
	defer fmu.Unlock()
	if final.Recipients[0].State != StateFailed {
		t.Errorf("got %+v", final.Recipients[0])
	}
}

func TestBackoff(t *testing.T) {
	half := func() float64 { return 0.5 } // no jitter
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 5 * time.Minute}, {1, 5 * time.Minute}, {2, 10 * time.Minute}, {3, 20 * time.Minute},
		{6, 160 * time.Minute}, {7, 4 * time.Hour}, {100, 4 * time.Hour},
	}
	for _, tt := range tests {
		if got := Backoff(tt.attempt, 5*time.Minute, 4*time.Hour, half); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
	lo := Backoff(3, 5*time.Minute, 4*time.Hour, func() float64 { return 0 })
	hi := Backoff(3, 5*time.Minute, 4*time.Hour, func() float64 { return 0.999999 })
	if lo != 18*time.Minute || hi < 21*time.Minute || hi > 22*time.Minute {
		t.Errorf("jitter bounds: %v %v", lo, hi)
	}
}

// countingTransport records the most deliveries it saw at once.
type countingTransport struct {
	mu       sync.Mutex
	now, max int
	release  chan struct{}
}

func (c *countingTransport) Deliver(ctx context.Context, m *deliver.Message, rcpts []string) []deliver.Result {
	c.mu.Lock()
	c.now++
	c.max = max(c.max, c.now)
	c.mu.Unlock()
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	c.mu.Lock()
	c.now--
	c.mu.Unlock()
	out := make([]deliver.Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = deliver.Result{Rcpt: r, Code: 250}
	}
	return out
}
func (c *countingTransport) Close() error { return nil }

// MaxDeliveries bounds attempts across destinations, each of which alone
// would allow more.
func TestMaxDeliveriesIsGlobal(t *testing.T) {
	ct := &countingTransport{release: make(chan struct{})}
	router := domainRouter{}
	for i := range 6 {
		router[fmt.Sprintf("d%d.example", i)] = ct
	}
	q, _ := Open(Options{Dir: t.TempDir(), Router: router, MaxDeliveries: 2, ConcurrencyPerDestination: 5})
	q.Start()
	defer q.Close()
	for i := range 6 {
		enqueue(t, q, "m\r\n", fmt.Sprintf("x@d%d.example", i))
	}
	waitFor(t, "two attempts in flight", func() bool { ct.mu.Lock(); defer ct.mu.Unlock(); return ct.now == 2 })
	close(ct.release)
	waitFor(t, "empty queue", func() bool { return q.Len() == 0 })
	if ct.max != 2 {
		t.Errorf("at most %d deliveries at once, want 2", ct.max)
	}
}

// stallingNotifier holds its first Finished call until release is closed.
type stallingNotifier struct {
	once    sync.Once
	first   chan struct{} // closed when the first call starts
	release chan struct{}
}

func (n *stallingNotifier) Finished(*Queue, *Envelope, string) error {
	held := false
	n.once.Do(func() { held = true; close(n.first) })
	if held {
		<-n.release
	}
	return nil
}
func (n *stallingNotifier) Delayed(*Queue, *Envelope, string) error { return nil }

// TestNoEnvelopeAfterFinish: an attempt that ends while another
// destination's attempt finishes the message must not write ID.env for
// the message that is gone (it was left behind until the next start).
func TestNoEnvelopeAfterFinish(t *testing.T) {
	dir := t.TempDir()
	fast, slow := newScripted(), newScripted()
	slow.block = make(chan struct{})
	n := &stallingNotifier{first: make(chan struct{}), release: make(chan struct{})}
	q, err := Open(Options{Dir: dir, Router: domainRouter{"fast.example": fast, "slow.example": slow}, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	enqueue(t, q, "m\r\n", "a@fast.example", "b@slow.example")
	<-n.first // a@ is delivered and being reported while b@ waits
	close(slow.block)
	waitFor(t, "the message finished by b@'s attempt", func() bool { return q.Len() == 0 })
	close(n.release) // a@'s attempt goes on
	q.Close()
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("files left after the message finished: %v", f)
	}
}
