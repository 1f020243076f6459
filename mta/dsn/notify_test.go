package dsn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/queue"
)

// delivery is one message as a test transport received it.
type delivery struct {
	from, rcpt string
	body       []byte
	utf8, bit8 bool
}

// transport answers from per-recipient scripts (then 250) and records
// every accepted message.
type transport struct {
	mu      sync.Mutex
	script  map[string][]deliver.Result
	got     []delivery
	tries   map[string]int
	release chan struct{} // if set, Deliver waits for it
}

func newTransport() *transport {
	return &transport{script: map[string][]deliver.Result{}, tries: map[string]int{}}
}

func (t *transport) Deliver(ctx context.Context, m *deliver.Message, rcpts []string) []deliver.Result {
	if t.release != nil {
		select {
		case <-t.release:
		case <-ctx.Done():
			return nil
		}
	}
	rc, err := m.Open()
	if err != nil {
		return nil
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []deliver.Result
	for _, r := range rcpts {
		t.tries[r]++
		ok := deliver.Result{Code: 250, Enhanced: "2.0.0", Text: "ok"}
		if s := t.script[r]; len(s) > 0 {
			t.script[r] = s[1:]
			if !s[0].OK() {
				out = append(out, s[0])
				continue
			}
			ok = s[0]
		}
		ok.Rcpt = r
		out = append(out, ok)
		t.got = append(t.got, delivery{from: m.From, rcpt: r, body: body, utf8: m.UTF8, bit8: m.EightBit})
	}
	return out
}

func (t *transport) Close() error { return nil }

func (t *transport) deliveries() []delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]delivery(nil), t.got...)
}

type router map[string]*transport

func (r router) Route(rc *queue.Recipient) (string, deliver.Transport, error) {
	dom := rc.Addr[strings.LastIndexByte(rc.Addr, '@')+1:]
	t, ok := r[dom]
	if !ok {
		return "", nil, fmt.Errorf("no route to %s", dom)
	}
	return dom, t, nil
}

// destGiveUp is how long dest.example's recipients are retried (the
// router's queue.Scheduler), unlike the queue's default for other domains.
const destGiveUp = 7 * time.Hour

func (r router) Schedule(rc *queue.Recipient) queue.Schedule {
	if strings.HasSuffix(rc.Addr, "@dest.example") {
		return queue.Schedule{GiveUpAfter: destGiveUp}
	}
	return queue.Schedule{}
}

// setup runs a queue whose bounces go through the Sender; senders live at
// origin.example, recipients at dest.example.
func setup(t *testing.T, opts queue.Options) (*queue.Queue, *transport, *transport) {
	t.Helper()
	origin, dest := newTransport(), newTransport()
	opts.Dir = t.TempDir()
	opts.Router = router{"origin.example": origin, "dest.example": dest}
	opts.Notifier = &Sender{Hostname: "mx.example.net"}
	if opts.RetryMin == 0 {
		opts.RetryMin, opts.RetryMax = time.Millisecond, 2*time.Millisecond
	}
	q, err := queue.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	t.Cleanup(q.Close)
	return q, origin, dest
}

func submit(t *testing.T, q *queue.Queue, env *queue.Envelope) string {
	t.Helper()
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, original)
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
		time.Sleep(2 * time.Millisecond)
	}
}

func TestBounceThroughQueue(t *testing.T) {
	q, origin, dest := setup(t, queue.Options{})
	dest.script["bad@dest.example"] = []deliver.Result{{Code: 550, Enhanced: "5.1.1", Text: "no such user", Permanent: true}}
	submit(t, q, &queue.Envelope{From: "alice@origin.example", DSNEnvID: "ENV1", DSNRet: "FULL", Recipients: []*queue.Recipient{
		{Addr: "bad@dest.example", ORcpt: "rfc822;bad@dest.example"}, {Addr: "good@dest.example"}}})
	waitFor(t, "bounce and empty queue", func() bool { return len(origin.deliveries()) == 1 && q.Len() == 0 })

	if got := dest.deliveries(); len(got) != 1 || got[0].rcpt != "good@dest.example" {
		t.Errorf("destination got %+v", got)
	}
	b := origin.deliveries()[0]
	if b.from != "" || b.rcpt != "alice@origin.example" {
		t.Fatalf("bounce sent from <%s> to <%s>", b.from, b.rcpt)
	}
	p := parse(t, b.body)
	if p.perMessage.Get("Original-Envelope-Id") != "ENV1" || len(p.perRcpt) != 1 {
		t.Fatalf("report %v %v", p.perMessage.Map(), p.perRcpt)
	}
	r := p.perRcpt[0]
	if r.Get("Final-Recipient") != "rfc822; bad@dest.example" || r.Get("Action") != "failed" || r.Get("Status") != "5.1.1" ||
		r.Get("Diagnostic-Code") != "smtp; 550 5.1.1 no such user" || r.Get("Last-Attempt-Date") == "" {
		t.Errorf("recipient block %v", r.Map())
	}
	if p.types[2] != "message/rfc822" || p.original != original {
		t.Errorf("RET=FULL returned %s %q", p.types[2], p.original)
	}
}

// TestBounceWhileOthersWait: a recipient that fails is bounced after that
// attempt, not when the message's last recipient is done (which may be
// days later), and only once: the final report names only the others.
func TestBounceWhileOthersWait(t *testing.T) {
	q, origin, dest := setup(t, queue.Options{RetryMin: time.Hour, RetryMax: time.Hour})
	dest.script["bad@dest.example"] = []deliver.Result{{Code: 550, Enhanced: "5.1.1", Text: "no such user", Permanent: true}}
	dest.script["slow@dest.example"] = []deliver.Result{{Code: 451, Enhanced: "4.4.1", Text: "try later"}}
	id := submit(t, q, &queue.Envelope{From: "alice@origin.example", Recipients: []*queue.Recipient{
		{Addr: "bad@dest.example"}, {Addr: "slow@dest.example"}}})
	waitFor(t, "the bounce of bad@", func() bool { return len(origin.deliveries()) == 1 })
	p := parse(t, origin.deliveries()[0].body)
	if len(p.perRcpt) != 1 || p.perRcpt[0].Get("Final-Recipient") != "rfc822; bad@dest.example" || p.perRcpt[0].Get("Action") != "failed" {
		t.Fatalf("first report %v", p.perRcpt)
	}
	if d, err := q.Show(id); err != nil || d.Envelope.Recipients[1].State != queue.StateQueued {
		t.Fatalf("slow@ is no longer queued: %v %+v", err, d)
	}
	// The attempt that sent the bounce may still be rescheduling slow@:
	// ErrBusy until then.
	var err error
	waitFor(t, "delete", func() bool { err = q.Delete(id, true); return !errors.Is(err, queue.ErrBusy) })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bounce of slow@", func() bool { return len(origin.deliveries()) == 2 && q.Len() == 0 })
	p = parse(t, origin.deliveries()[1].body)
	if len(p.perRcpt) != 1 || p.perRcpt[0].Get("Final-Recipient") != "rfc822; slow@dest.example" || p.perRcpt[0].Get("Action") != "failed" {
		t.Errorf("final report %v", p.perRcpt)
	}
}

// A recipient without a route fails at once and is bounced; its bounce is
// queued before the original is removed.
func TestBounceUnroutable(t *testing.T) {
	var mu sync.Mutex
	var bounceQueuedBeforeRemoval bool
	var q *queue.Queue
	var origin *transport
	q, origin, _ = setup(t, queue.Options{Finished: func(env *queue.Envelope, _ string) {
		if env.From == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		// The bounce is committed: the queue holds it and the original
		// (or the bounce was even delivered already).
		bounceQueuedBeforeRemoval = q.Len() == 2 || len(origin.deliveries()) == 1
	}})
	submit(t, q, &queue.Envelope{From: "alice@origin.example", Recipients: []*queue.Recipient{{Addr: "x@nowhere.example"}}})
	waitFor(t, "bounce", func() bool { return len(origin.deliveries()) == 1 && q.Len() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if !bounceQueuedBeforeRemoval {
		t.Error("original finished before its bounce was queued")
	}
	if p := parse(t, origin.deliveries()[0].body); p.perRcpt[0].Get("Status") != "5.1.2" || p.types[2] != "text/rfc822-headers" {
		t.Errorf("status %q, part %s", p.perRcpt[0].Get("Status"), p.types[2])
	}
}

// No report is sent for <>, for NOTIFY=NEVER, or for NOTIFY=SUCCESS alone
// when the recipient failed; every failed message is still removed.
func TestNoBounce(t *testing.T) {
	q, origin, dest := setup(t, queue.Options{})
	dest.script["bad@dest.example"] = []deliver.Result{
		{Code: 550, Text: "no", Permanent: true}, {Code: 550, Text: "no", Permanent: true}, {Code: 550, Text: "no", Permanent: true}}
	// A bounce that bounces: the null sender never gets a report.
	submit(t, q, &queue.Envelope{From: "", Recipients: []*queue.Recipient{{Addr: "bad@dest.example"}}})
	submit(t, q, &queue.Envelope{From: "alice@origin.example", Recipients: []*queue.Recipient{{Addr: "bad@dest.example", Notify: []string{"NEVER"}}}})
	submit(t, q, &queue.Envelope{From: "alice@origin.example", Recipients: []*queue.Recipient{{Addr: "bad@dest.example", Notify: []string{"SUCCESS"}}}})
	waitFor(t, "all three attempted and removed", func() bool {
		dest.mu.Lock()
		n := dest.tries["bad@dest.example"]
		dest.mu.Unlock()
		return n == 3 && q.Len() == 0
	})
	if got := origin.deliveries(); len(got) != 0 {
		t.Errorf("%d reports sent, want none", len(got))
	}
}

// TestSuccessReport: NOTIFY=SUCCESS gets "delivered" for a mailbox,
// "relayed" for an SMTP next hop without DSN, and nothing from us when the
// next hop offered DSN and was given the request (RFC 3461 section 5.2).
func TestSuccessReport(t *testing.T) {
	q, origin, dest := setup(t, queue.Options{})
	success := []string{"SUCCESS", "FAILURE"}
	dest.script["r@dest.example"] = []deliver.Result{{Code: 250, Text: "ok", Relayed: true}}
	dest.script["p@dest.example"] = []deliver.Result{{Code: 250, Text: "ok", Relayed: true, DSNPassed: true}}
	submit(t, q, &queue.Envelope{From: "alice@origin.example", Recipients: []*queue.Recipient{
		{Addr: "a@dest.example", Notify: success}, {Addr: "b@dest.example"},
		{Addr: "r@dest.example", Notify: success}, {Addr: "p@dest.example", Notify: success}}})
	waitFor(t, "report", func() bool { return len(origin.deliveries()) == 1 && q.Len() == 0 })
	p := parse(t, origin.deliveries()[0].body)
	if len(p.perRcpt) != 2 || p.perRcpt[0].Get("Final-Recipient") != "rfc822; a@dest.example" ||
		p.perRcpt[0].Get("Action") != "delivered" || p.perRcpt[0].Get("Status") != "2.0.0" ||
		p.perRcpt[1].Get("Final-Recipient") != "rfc822; r@dest.example" ||
		p.perRcpt[1].Get("Action") != "relayed" || p.perRcpt[1].Get("Status") != "2.0.0" {
		t.Errorf("report %v", p.perRcpt)
	}
	if p.header.Get("Subject") != "Successful Mail Delivery Report" {
		t.Errorf("Subject %q", p.header.Get("Subject"))
	}
}

// One delay warning per message, only to recipients that did not opt out.
func TestDelayWarning(t *testing.T) {
	q, origin, dest := setup(t, queue.Options{DelayWarning: time.Nanosecond})
	later := deliver.Result{Code: 451, Enhanced: "4.7.1", Text: "greylisted"}
	dest.script["slow@dest.example"] = []deliver.Result{later, later, later}
	dest.script["quiet@dest.example"] = []deliver.Result{later, later, later}
	submit(t, q, &queue.Envelope{From: "alice@origin.example", Recipients: []*queue.Recipient{
		{Addr: "slow@dest.example"}, {Addr: "quiet@dest.example", Notify: []string{"FAILURE"}}}})
	waitFor(t, "delivery", func() bool { return len(dest.deliveries()) == 2 && q.Len() == 0 })
	got := origin.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d warnings, want 1", len(got))
	}
	p := parse(t, got[0].body)
	if len(p.perRcpt) != 1 || p.perRcpt[0].Get("Final-Recipient") != "rfc822; slow@dest.example" ||
		p.perRcpt[0].Get("Action") != "delayed" || p.perRcpt[0].Get("Status") != "4.7.1" {
		t.Fatalf("warning %v", p.perRcpt)
	}
	// Retried until the recipient's own schedule gives up.
	arrival, err1 := time.Parse(time.RFC1123Z, p.perMessage.Get("Arrival-Date"))
	until, err2 := time.Parse(time.RFC1123Z, p.perRcpt[0].Get("Will-Retry-Until"))
	if err1 != nil || err2 != nil || until.Sub(arrival) != destGiveUp {
		t.Errorf("Arrival-Date %q, Will-Retry-Until %q: want %v apart", p.perMessage.Get("Arrival-Date"), p.perRcpt[0].Get("Will-Retry-Until"), destGiveUp)
	}

	// NOTIFY=NEVER and DelayWarning < 0: none.
	dest.script["slow@dest.example"] = []deliver.Result{later, later}
	submit(t, q, &queue.Envelope{From: "alice@origin.example", Recipients: []*queue.Recipient{{Addr: "slow@dest.example", Notify: []string{"NEVER"}}}})
	waitFor(t, "delivery", func() bool { return len(dest.deliveries()) == 3 && q.Len() == 0 })
	if n := len(origin.deliveries()); n != 1 {
		t.Errorf("%d reports after NOTIFY=NEVER, want still 1", n)
	}
}

// Delete with bounce on a running queue fails the pending recipients and
// sends the usual bounce.
func TestDeleteWithBounce(t *testing.T) {
	q, origin, dest := setup(t, queue.Options{RetryMin: time.Hour, RetryMax: time.Hour})
	dest.script["x@dest.example"] = []deliver.Result{{Code: 451, Text: "later"}}
	id := submit(t, q, &queue.Envelope{From: "alice@origin.example", Recipients: []*queue.Recipient{{Addr: "x@dest.example"}}})
	waitFor(t, "first attempt", func() bool {
		envs, _ := q.List()
		return len(envs) == 1 && envs[0].Recipients[0].Attempts == 1
	})
	// The attempt may still be winding up (rescheduling): ErrBusy until then.
	var err error
	waitFor(t, "delete", func() bool { err = q.Delete(id, true); return !errors.Is(err, queue.ErrBusy) })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bounce", func() bool { return len(origin.deliveries()) == 1 && q.Len() == 0 })
	p := parse(t, origin.deliveries()[0].body)
	if r := p.perRcpt[0]; r.Get("Action") != "failed" || r.Get("Status") != "5.0.0" || r.Has("Diagnostic-Code") {
		t.Errorf("report %v", r.Map())
	}
	if !strings.Contains(p.human, "deleted from the queue") {
		t.Errorf("human part:\n%s", p.human)
	}
}

func TestWants(t *testing.T) {
	tests := []struct {
		notify []string
		kind   string
		want   bool
	}{
		{nil, "FAILURE", true}, {nil, "DELAY", true}, {nil, "SUCCESS", false},
		{[]string{"NEVER"}, "FAILURE", false},
		{[]string{"SUCCESS"}, "SUCCESS", true}, {[]string{"SUCCESS"}, "FAILURE", false},
		{[]string{"failure", "delay"}, "DELAY", true},
	}
	for _, tt := range tests {
		if got := wants(tt.notify, tt.kind); got != tt.want {
			t.Errorf("wants(%v, %s) = %v", tt.notify, tt.kind, got)
		}
	}
}
