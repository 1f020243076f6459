package queue

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mta/deliver"
)

// orderTransport records the order of attempts and answers from a
// per-recipient reply that tests can change.
type orderTransport struct {
	mu     sync.Mutex
	order  []string
	answer map[string]deliver.Result // missing: 250
}

func (o *orderTransport) Deliver(_ context.Context, _ *deliver.Message, rcpts []string) []deliver.Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []deliver.Result
	for _, r := range rcpts {
		o.order = append(o.order, r)
		res, ok := o.answer[r]
		if !ok {
			res = deliver.Result{Code: 250, Text: "ok"}
		}
		res.Rcpt = r
		out = append(out, res)
	}
	return out
}
func (o *orderTransport) Close() error { return nil }

func (o *orderTransport) set(rcpt string, res *deliver.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if res == nil {
		delete(o.answer, rcpt)
	} else {
		o.answer[rcpt] = *res
	}
}

func (o *orderTransport) attempts() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.order...)
}

func readEnv(t *testing.T, dir, id string) *Envelope {
	t.Helper()
	b, err := os.ReadFile(dir + "/" + id + ".env")
	if err != nil {
		t.Fatal(err)
	}
	env, err := decodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestAdminOnline(t *testing.T) {
	dir := t.TempDir()
	tr := &orderTransport{answer: map[string]deliver.Result{"x@a.example": {Code: 451, Enhanced: "4.7.1", Text: "greylisted"}}}
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}, RetryMin: time.Hour, RetryMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	defer q.Close()
	id := enqueue(t, q, "Subject: hi\r\nFrom: s@example.com\r\n\r\nbody\r\n", "x@a.example")
	waitFor(t, "first attempt", func() bool { return len(tr.attempts()) == 1 })

	// List: state, attempts, next attempt, last reply.
	var envs []*Envelope
	waitFor(t, "retry scheduled", func() bool {
		envs, _ = q.List()
		return len(envs) == 1 && !envs[0].Recipients[0].NextAttempt.IsZero()
	})
	r := envs[0].Recipients[0]
	if envs[0].ID != id || envs[0].From != "sender@example.com" || r.State != StateQueued || r.Attempts != 1 ||
		r.LastReply != "451 4.7.1 greylisted" || r.NextAttempt.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("list: %+v %+v", envs[0], r)
	}
	envs[0].Recipients[0].Addr = "changed" // a copy: the queue is not affected

	d, err := q.Show(id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Header != "Subject: hi\r\nFrom: s@example.com\r\n" || d.Envelope.Recipients[0].Addr != "x@a.example" {
		t.Errorf("show: %q %+v", d.Header, d.Envelope.Recipients[0])
	}

	// Hold is persisted; a held message is not flushed.
	if err := q.Hold(id); err != nil {
		t.Fatal(err)
	}
	if !readEnv(t, dir, id).Held {
		t.Error("hold not persisted")
	}
	if n, err := q.Flush(""); err != nil || n != 0 {
		t.Errorf("flush of a held queue: %d, %v", n, err)
	}
	// Release keeps the schedule (an hour away); Flush makes it due now.
	if err := q.Release(id); err != nil {
		t.Fatal(err)
	}
	if readEnv(t, dir, id).Held {
		t.Error("release not persisted")
	}
	tr.set("x@a.example", nil)
	if n, err := q.Flush(id); err != nil || n != 1 {
		t.Fatalf("flush: %d, %v", n, err)
	}
	waitFor(t, "delivery after flush", func() bool { return q.Len() == 0 })
	if got := tr.attempts(); len(got) != 2 {
		t.Errorf("attempts %v", got)
	}

	for _, bad := range []string{"", "../../etc/passwd", "nosuchmessage0"} {
		if _, err := q.Show(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show(%q): %v", bad, err)
		}
		if err := q.Hold(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Hold(%q): %v", bad, err)
		}
	}
}

// A held message is skipped by its destination's FIFO and goes out when released.
func TestHoldSkipsAndReleaseDelivers(t *testing.T) {
	tr := &orderTransport{answer: map[string]deliver.Result{}}
	q, err := Open(Options{Dir: t.TempDir(), Router: domainRouter{"a.example": tr}, ConcurrencyPerDestination: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	held := enqueue(t, q, "m\r\n", "held@a.example")
	enqueue(t, q, "m\r\n", "free@a.example")
	if err := q.Hold(held); err != nil {
		t.Fatal(err)
	}
	q.Start()
	waitFor(t, "the other message", func() bool { return q.Len() == 1 })
	if got := tr.attempts(); len(got) != 1 || got[0] != "free@a.example" {
		t.Fatalf("attempts %v", got)
	}
	if err := q.Release(held); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "released message", func() bool { return q.Len() == 0 })
	if got := tr.attempts(); len(got) != 2 || got[1] != "held@a.example" {
		t.Errorf("attempts %v", got)
	}
}

func TestDeleteOnline(t *testing.T) {
	dir := t.TempDir()
	var finished int
	var mu sync.Mutex
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": &orderTransport{}}, ConcurrencyPerDestination: 1,
		Finished: func(*Envelope, string) { mu.Lock(); finished++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	id := enqueue(t, q, "m\r\n", "x@a.example")
	if err := q.Delete(id, false); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 0 || len(files(t, dir)) != 0 {
		t.Errorf("left: %d messages, files %v", q.Len(), files(t, dir))
	}
	if err := q.Delete(id, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// The deleted message's job must not run: after a later message (same
	// destination, FIFO) is done, only that one has finished.
	q.Start()
	enqueue(t, q, "m\r\n", "y@a.example")
	waitFor(t, "the later message", func() bool { return q.Len() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if finished != 1 {
		t.Errorf("Finished called %d times, want 1 (the deleted message must not finish)", finished)
	}
}

func TestAdminOffline(t *testing.T) {
	dir := t.TempDir()
	tr := &orderTransport{answer: map[string]deliver.Result{}}
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	keep := enqueue(t, q, "Subject: keep\r\n\r\nx\r\n", "keep@a.example")
	held := enqueue(t, q, "Subject: held\r\n\r\nx\r\n", "held@a.example")
	gone := enqueue(t, q, "m\r\n", "gone@a.example")
	bounced := enqueue(t, q, "m\r\n", "bounced@a.example")

	// While the queue owns the directory, the spool is read only.
	s, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ReadOnly() {
		t.Fatal("spool writable while a queue owns it")
	}
	if err := s.Hold(held); !errors.Is(err, ErrLocked) {
		t.Errorf("hold on a locked spool: %v", err)
	}
	if envs, err := s.List(); err != nil || len(envs) != 4 {
		t.Errorf("read-only list: %d, %v", len(envs), err)
	}
	s.Close()
	if _, err := Open(Options{Dir: dir, Router: domainRouter{}}); !errors.Is(err, ErrLocked) {
		t.Errorf("second queue on the same directory: %v", err)
	}
	q.Close()

	s, err = OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.ReadOnly() {
		t.Fatal("spool read only with no server")
	}
	envs, err := s.List()
	if err != nil || len(envs) != 4 || envs[0].ID != keep {
		t.Fatalf("list: %d, %v", len(envs), err)
	}
	if d, err := s.Show(keep); err != nil || d.Header != "Subject: keep\r\n" {
		t.Errorf("show: %+v, %v", d, err)
	}
	if err := s.Hold(held); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(gone, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(bounced, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Show(gone); !errors.Is(err, ErrNotFound) {
		t.Errorf("show of a deleted message: %v", err)
	}
	if err := s.Hold("../x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("hold of a bad id: %v", err)
	}
	if _, err := Open(Options{Dir: dir, Router: domainRouter{}}); !errors.Is(err, ErrLocked) {
		t.Errorf("queue opened while an offline command holds the spool: %v", err)
	}
	s.Close()

	// The server starts: the held message waits, the bounced one finishes
	// with its recipient failed, the kept one is delivered.
	var mu sync.Mutex
	final := map[string]*Envelope{}
	q, err = Open(Options{Dir: dir, Router: domainRouter{"a.example": tr},
		Finished: func(e *Envelope, _ string) { mu.Lock(); final[e.ID] = e; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.Start()
	waitFor(t, "only the held message left", func() bool { return q.Len() == 1 })
	mu.Lock()
	if r := final[bounced].Recipients[0]; r.State != StateFailed || !strings.Contains(r.LastReply, "deleted") {
		t.Errorf("bounced: %+v", r)
	}
	if _, ok := final[gone]; ok {
		t.Error("deleted message delivered")
	}
	mu.Unlock()
	if got := tr.attempts(); len(got) != 1 || got[0] != "keep@a.example" {
		t.Errorf("attempts %v", got)
	}
	envs, _ = q.List()
	if len(envs) != 1 || envs[0].ID != held || !envs[0].Held {
		t.Fatalf("left %+v", envs)
	}
	if err := q.Release(held); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "released", func() bool { return q.Len() == 0 })
}

// Offline flush clears the next attempt so the server tries at once.
func TestSpoolFlush(t *testing.T) {
	dir := t.TempDir()
	tr := &orderTransport{answer: map[string]deliver.Result{"x@a.example": {Code: 451, Text: "later"}}}
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}, RetryMin: time.Hour, RetryMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	id := enqueue(t, q, "m\r\n", "x@a.example")
	waitFor(t, "retry persisted", func() bool {
		b, _ := os.ReadFile(dir + "/" + id + ".env")
		env, err := decodeEnvelope(b)
		return err == nil && !env.Recipients[0].NextAttempt.IsZero()
	})
	q.Close()

	s, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Flush(""); err != nil || n != 1 {
		t.Fatalf("flush: %d, %v", n, err)
	}
	if !readEnv(t, dir, id).Recipients[0].NextAttempt.IsZero() {
		t.Error("flush not written")
	}
	s.Close()

	tr.set("x@a.example", nil)
	q, err = Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}, RetryMin: time.Hour, RetryMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.Start()
	waitFor(t, "delivery at start", func() bool { return q.Len() == 0 })
}
